#include "conformance.h"

int main(void)
{
    return lc_conformance_run("postgres");
}
