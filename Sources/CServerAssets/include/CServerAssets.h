#ifndef C_SERVER_ASSETS_H
#define C_SERVER_ASSETS_H
#include <stddef.h>

/// The server's static documents, compiled into the binary so the server has nothing to find
/// on disk and each checked-in file (playground.html, openapi.json) stays the one source of truth.
const unsigned char *sc_playground_page(size_t *size);
const unsigned char *sc_openapi_document(size_t *size);

#endif
