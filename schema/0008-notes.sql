-- hpod schema: free-text notes on studies and trials.
-- A person's note (what was tried, why a trial is odd), written through
-- PUT .../note by an admin or worker token; NULL when there is none. note_at
-- is when it was last written, in ms since the epoch.
ALTER TABLE studies ADD COLUMN note TEXT;
ALTER TABLE studies ADD COLUMN note_at INTEGER;
ALTER TABLE trials ADD COLUMN note TEXT;
ALTER TABLE trials ADD COLUMN note_at INTEGER;
