/* config/yaml.c -- placeholder until the YAML loader lands. */
#include "core/error_int.h"

#include <string.h>

lc_status lc_config_parse(const char *text, size_t len, const char *name, lc_config **out,
                          lc_error *err)
{
    (void)text;
    (void)len;
    (void)out;
    return lc__err(err, LC_ERR_CONFIG, 0, "%s: the YAML loader is not built yet", name);
}

lc_status lc_config_load(const char *path, lc_config **out, lc_error *err)
{
    return lc_config_parse("", 0, path, out, err);
}

char *lc_config_dump(const lc_config *cfg)
{
    (void)cfg;
    return strdup("");
}
