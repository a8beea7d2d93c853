-- hpod schema, version 2: early stopping.
-- The step at which the study's pruner judged a running trial to be stopped, NULL
-- while it may go on. Later reports and heartbeats of the trial answer "prune".
ALTER TABLE trials ADD COLUMN prune_step INTEGER;
-- The other trials of a study that reached a step (last_step is the highest step
-- a trial reported): what the median and asha pruners compare a report with.
CREATE INDEX trials_study_last_step ON trials(study_id, last_step, state);
