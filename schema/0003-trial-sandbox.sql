-- The sandbox the worker ran a trial in ("bwrap" or "none"), as it reported it.
ALTER TABLE trials ADD COLUMN sandbox TEXT;
