-- Running trials are found through trials_study_state (study_id, state, ...):
-- a study has at most max_parallel of them. The two partial indexes below cost
-- a page write at every lease, heartbeat and completion, for lookups that the
-- study index already answers.
DROP INDEX trials_running;
DROP INDEX trials_worker;
