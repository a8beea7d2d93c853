-- hpod schema: why a pruner stopped a trial.
-- The pruner's one-line account of its decision ("curve pruner at step 12: 2%
-- chance to beat the 3rd best (0.089) at step 30 ..."), NULL while not pruned.
ALTER TABLE trials ADD COLUMN prune_reason TEXT;
-- The curve pruner's chance, at this report, that the trial's final value beats
-- the k-th best completed value; NULL when it did not judge the report.
ALTER TABLE trial_reports ADD COLUMN prune_p REAL;
