-- hpod schema: the token a lease was taken with.
-- lease_token is the id of the API token that leased the trial (NULL when the
-- daemon was open or the lease predates this column): only that token, or an
-- admin one, may heartbeat, report or complete the trial.
ALTER TABLE trials ADD COLUMN lease_token INTEGER;
