-- One llm_calls row per HTTP exchange with a provider, grouped by proposal:
-- proposal is the id of the proposal's first exchange (an older row stands
-- alone), attempt its place in the proposal. model keeps the model that
-- answered, model_requested the one asked for; params the request's
-- parameters (model, temperature, max_tokens, structured) as JSON; body the
-- request body sent (no key); reasoning what a reasoning model thought before
-- answering; tokens_estimated is 1 when the provider reported no usage and the
-- counts were estimated; structured the output constraint sent (json_schema,
-- json_object, guided_json, format, tool, none); configs how many
-- configurations were accepted from the reply.
ALTER TABLE llm_calls ADD COLUMN proposal INTEGER;
ALTER TABLE llm_calls ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE llm_calls ADD COLUMN model_requested TEXT;
ALTER TABLE llm_calls ADD COLUMN params TEXT;
ALTER TABLE llm_calls ADD COLUMN body TEXT;
ALTER TABLE llm_calls ADD COLUMN reasoning TEXT;
ALTER TABLE llm_calls ADD COLUMN tokens_estimated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE llm_calls ADD COLUMN structured TEXT;
ALTER TABLE llm_calls ADD COLUMN configs INTEGER NOT NULL DEFAULT 0;
UPDATE llm_calls SET configs = json_array_length(trials);
UPDATE llm_calls SET proposal = id;
