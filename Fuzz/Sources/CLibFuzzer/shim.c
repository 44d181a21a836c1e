// The declaration in include/CLibFuzzer.h is the point of this target; libFuzzer defines the function.
#include "CLibFuzzer.h"
