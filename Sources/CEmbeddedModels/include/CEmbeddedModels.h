// The MTCNN weights, embedded into the binary at build time from the files `make models`
// unpacks (never committed).
#ifndef SMARTCROP_EMBEDDED_MODELS_H
#define SMARTCROP_EMBEDDED_MODELS_H

#include <stddef.h>

typedef enum { SC_MTCNN_PNET, SC_MTCNN_RNET, SC_MTCNN_ONET } sc_mtcnn_network;

// The bytes of one network's ONNX file; *size is 0 when the build ran before `make models`.
const unsigned char *sc_mtcnn_model(sc_mtcnn_network network, size_t *size);

#endif
