-- hpod schema: the token a lease was taken with.
-- open or the lease predates this column): only that token, or an admin one,
-- may heartbeat, report or complete the trial.
ALTER TABLE trials ADD COLUMN lease_token INTEGER;
