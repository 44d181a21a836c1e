#ifndef SAMU_CRDKAFKA_SHIM_H
#define SAMU_CRDKAFKA_SHIM_H
// librdkafka's public API and its in-process mock cluster (used by component tests).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif
