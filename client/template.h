#ifndef TEMPLATE_H
#define TEMPLATE_H

#include <jansson.h>

/* How a trial's parameters reach the training command: "{name}" placeholders
 * in its arguments and HPO_PARAM_<NAME> environment variables.
 *
 * Placeholders: "{key}" is replaced when key is a parameter of the study or one
 * of the built-ins "params_file" and "trial_dir" (a built-in wins over a
 * parameter of the same name). A parameter of the study that is inactive in
 * this trial becomes the empty string. Anything else in braces ("{x}" for an
 * unknown x, "${HOME}", awk's "{print $1}") is left exactly as written, so that
 * shell and awk snippets pass through; there is no escape syntax. */

/* The environment name of a parameter: "HPO_PARAM_" followed by the name
 * upper-cased with every character other than [A-Z0-9] turned into '_'
 * ("learning-rate" -> "HPO_PARAM_LEARNING_RATE"). New allocation. */
char *template_env_name(const char *param);

/* The text of a parameter value: a string as is, an integer in decimal, a real
 * in its shortest round-trip form ("0.001", "1e-05"), true/false, "" for null,
 * compact JSON for anything else. New allocation, or NULL when out of memory. */
char *template_value_text(const json_t *v);

/* The file a code parameter is written to inside the trial directory:
 * "NAME.py" for language "python", "NAME.txt" otherwise. New allocation. */
char *template_code_file_name(const char *name, const char *language);

/* The substitutions for one trial as an object of strings (new reference):
 * every parameter of spec_params (the spec's "params" array, borrowed, may be
 * NULL) mapped to its text in params (borrowed), or to the path in code_files
 * (borrowed object name -> path, may be NULL) for a code parameter, or to ""
 * when inactive; parameters present in params but not in spec_params too; then
 * "params_file" and "trial_dir". */
json_t *template_vars_new(const json_t *spec_params, const json_t *params, const json_t *code_files,
                          const char *params_file, const char *trial_dir);

/* arg with every "{key}" whose key is in vars (borrowed object of strings)
 * replaced by its string. New allocation, or NULL when out of memory. */
char *template_expand(const char *arg, const json_t *vars);

#endif
