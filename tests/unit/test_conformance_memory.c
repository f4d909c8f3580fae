/* The backend conformance suite on the in-process memory backend. */
#include "conformance.h"

int main(void)
{
    return lc_conformance_run("memory");
}
