/* config/suggest.c -- "did you mean" for unknown keys (Levenshtein <= 2). */
#include "config/config_int.h"

#include <string.h>

#define MAX_WORD 64 /* longer words are never near misses of our keys */

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Edit distance with two rows; words longer than MAX_WORD count as far. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX_WORD || lb > MAX_WORD)
        return (size_t)-1;
    size_t prev[MAX_WORD + 1], cur[MAX_WORD + 1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
    }
    return prev[lb];
}

const char *lc__cfg_suggest(const char *word, const char *const *choices, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, choices[i]);
        if (d < best_d) {
            best = choices[i];
            best_d = d;
        }
    }
    return best;
}
