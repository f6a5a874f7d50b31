#include "CServerAssets.h"

// #embed (C23) copies the files in at compile time; clang lists embedded files in the
// dependency output, so editing one rebuilds this file.
static const unsigned char page[] = {
#embed "playground.html"
};
static const unsigned char openapi[] = {
#embed "openapi.json"
};

const unsigned char *sc_playground_page(size_t *size) {
    *size = sizeof(page);
    return page;
}

const unsigned char *sc_openapi_document(size_t *size) {
    *size = sizeof(openapi);
    return openapi;
}
