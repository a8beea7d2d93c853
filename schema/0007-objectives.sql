-- hpod schema: several objectives and constraints.
-- How many objectives and constraints the study's spec names (its trials carry
-- an objective vector and a feasibility when either is more than one or zero).
ALTER TABLE studies ADD COLUMN n_objectives INTEGER NOT NULL DEFAULT 1;
ALTER TABLE studies ADD COLUMN n_constraints INTEGER NOT NULL DEFAULT 0;
-- The hypervolume reference point derived from the first feasible completed
-- trials (JSON array, one number per objective in the objectives' own units),
-- recorded once so that it never moves; NULL until then or when the spec
-- gives one.
ALTER TABLE studies ADD COLUMN reference TEXT;
UPDATE studies SET
    n_objectives = COALESCE(json_array_length(spec, '$.objectives'), 1),
    n_constraints = COALESCE(json_array_length(spec, '$.constraints'), 0);
-- A finished trial's objectives as a JSON array in the spec's order (null for
-- one not reported); NULL before it finishes with one.
ALTER TABLE trials ADD COLUMN objs TEXT;
-- 1 when every constraint holds, 0 when one does not; NULL when the study has
-- no constraints or the trial did not complete.
ALTER TABLE trials ADD COLUMN feasible INTEGER;
-- The total amount by which the constraints are missed, 0 when feasible.
ALTER TABLE trials ADD COLUMN violation REAL;
-- 1 while the trial is on its study's Pareto front (feasible, completed, no
-- other such trial dominates it); kept for studies of several objectives.
ALTER TABLE trials ADD COLUMN pareto INTEGER NOT NULL DEFAULT 0;
CREATE INDEX trials_pareto ON trials(study_id, number) WHERE pareto = 1;
