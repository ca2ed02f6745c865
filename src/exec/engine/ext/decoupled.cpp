// Decoupled backward weights for libtorch autograd, called from Rust (src/exec/engine/ext.rs).
//
// Why hand-written C++: tch exposes neither custom autograd functions nor
// at::convolution_backward. Without them, a layer whose input gradient flows through B (FA, IA
// and the other alignment rules, method.md §6) has to run conv(x, B) forward only to get the
// graph node whose backward gives dx = conv_transpose(dy, B), a whole extra convolution per layer
// and step, and IA's ∂R/∂B needs a surrogate forward for the same reason.
//
// The backward calls the same ATen kernels with the same arguments and masks as autograd's own
// ConvolutionBackward0 / MmBackward0 do for conv(x, B.detach()) and conv(x.detach(), W), so the
// gradients are bit-identical to that two-convolution construction
// (`engine::ext::tests`).
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

using torch::autograd::AutogradContext;
using torch::autograd::Function;
using torch::autograd::variable_list;

namespace {

// The gradients conv2d(x, k, stride, padding) sends to x (`input`) or to k (`!input`) for an
// output gradient g, as autograd's ConvolutionBackward0 computes them (one output per call).
at::Tensor conv_grad(const at::Tensor& g, const at::Tensor& x, const at::Tensor& k, bool input,
                     int64_t stride, int64_t ph, int64_t pw) {
  auto grads = at::convolution_backward(g, x, k, c10::nullopt, {stride, stride}, {ph, pw}, {1, 1},
                                        false, {0, 0}, 1, {input, !input, false});
  return input ? std::get<0>(grads) : std::get<1>(grads);
}

// y = conv2d(x, W, stride, padding); dx = conv_transpose(dy, B); dW = the filter gradient of
// x and dy; no gradient for B.
struct DecoupledConv : public Function<DecoupledConv> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const at::Tensor& b, int64_t stride, int64_t ph, int64_t pw) {
    ctx->save_for_backward({x, w, b});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["ph"] = ph;
    ctx->saved_data["pw"] = pw;
    return at::conv2d(x, w, {}, {stride, stride}, {ph, pw});
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& w = saved[1];
    const at::Tensor& b = saved[2];
    const at::Tensor& g = grads[0];
    int64_t s = ctx->saved_data["stride"].toInt();
    int64_t ph = ctx->saved_data["ph"].toInt();
    int64_t pw = ctx->saved_data["pw"].toInt();
    at::Tensor dx, dw;
    if (g.defined() && ctx->needs_input_grad(0)) {
      dx = conv_grad(g, x, b, true, s, ph, pw);
    }
    if (g.defined() && ctx->needs_input_grad(1)) {
      dw = conv_grad(g, x, w, false, s, ph, pw);
    }
    return {dx, dw, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// y = x·W (x [n, in], W [in, out]); dx = dy·B (B [out, in]); dW = xᵀ·dy; no gradient for B.
struct DecoupledLinear : public Function<DecoupledLinear> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const at::Tensor& b) {
    ctx->save_for_backward({x, b});
    return at::matmul(x, w);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& b = saved[1];
    const at::Tensor& g = grads[0];
    at::Tensor dx, dw;
    if (g.defined() && ctx->needs_input_grad(0)) {
      dx = g.mm(b);
    }
    if (g.defined() && ctx->needs_input_grad(1)) {
      dw = x.t().mm(g);
    }
    return {dx, dw, at::Tensor()};
  }
};

char* copy_error(const std::exception& e) { return strdup(e.what()); }

// The n tensors behind an array of pointers, as the list a multi-tensor kernel takes.
std::vector<at::Tensor> tensor_list(const at::Tensor* const* ts, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; i++) out.push_back(*ts[i]);
  return out;
}

}  // namespace

extern "C" {

// Each function returns a new heap tensor (owned by the caller, as tch's Tensor::from_ptr
// expects) or null with *err set to a malloc'd message (freed by lrx_free_error).

at::Tensor* lrx_decoupled_conv2d(const at::Tensor* x, const at::Tensor* w, const at::Tensor* b,
                                 int64_t stride, int64_t ph, int64_t pw, char** err) {
  try {
    return new at::Tensor(DecoupledConv::apply(*x, *w, *b, stride, ph, pw));
  } catch (const std::exception& e) {
    *err = copy_error(e);
    return nullptr;
  }
}

at::Tensor* lrx_decoupled_linear(const at::Tensor* x, const at::Tensor* w, const at::Tensor* b,
                                 char** err) {
  try {
    return new at::Tensor(DecoupledLinear::apply(*x, *w, *b));
  } catch (const std::exception& e) {
    *err = copy_error(e);
    return nullptr;
  }
}

// The filter gradient of conv2d(x, W, stride, padding) for an output gradient g, without the
// forward convolution (W only gives the shape).
at::Tensor* lrx_conv2d_weight_grad(const at::Tensor* g, const at::Tensor* x, const at::Tensor* w,
                                   int64_t stride, int64_t ph, int64_t pw, char** err) {
  try {
    return new at::Tensor(conv_grad(*g, *x, *w, false, stride, ph, pw));
  } catch (const std::exception& e) {
    *err = copy_error(e);
    return nullptr;
  }
}

// The input gradient of conv2d(x, W, stride, padding) for an output gradient g, for an input of
// the given sizes (x itself is not needed): conv_transpose(g, W) cropped to x, computed as
// autograd's backward computes dx.
at::Tensor* lrx_conv2d_input_grad(const at::Tensor* g, const int64_t* sizes, size_t nd,
                                  const at::Tensor* w, int64_t stride, int64_t ph, int64_t pw,
                                  char** err) {
  try {
    at::Tensor shape = at::empty(at::IntArrayRef(sizes, nd), g->options());
    return new at::Tensor(conv_grad(*g, shape, *w, true, stride, ph, pw));
  } catch (const std::exception& e) {
    *err = copy_error(e);
    return nullptr;
  }
}

// One optimizer step over n parameters sharing their hyperparameters, with libtorch's fused
// multi-tensor kernels (one pass over each parameter, its gradient and its state, on CPU and
// CUDA). tch does not expose them: they mutate lists of tensors. Same update as torch.optim.SGD
// (momentum, dampening 0, optional Nesterov, L2 weight decay `wd` added to the gradient; on the
// first step the buffer is set to the gradient) and torch.optim.Adam (L2 weight decay, no
// amsgrad; `steps[i]` is parameter i's step count after this step, as a float tensor on its
// device). Returns 0, or 1 with *err set.
int lrx_fused_sgd(const at::Tensor* const* params, const at::Tensor* const* grads,
                  const at::Tensor* const* bufs, size_t n, double wd, double momentum, double lr,
                  bool nesterov, bool first, char** err) {
  try {
    torch::autograd::AutoGradMode no_grad(false);
    at::_fused_sgd_(tensor_list(params, n), tensor_list(grads, n), tensor_list(bufs, n), wd,
                    momentum, lr, 0.0, nesterov, false, first);
    return 0;
  } catch (const std::exception& e) {
    *err = copy_error(e);
    return 1;
  }
}

int lrx_fused_adam(const at::Tensor* const* params, const at::Tensor* const* grads,
                   const at::Tensor* const* ms, const at::Tensor* const* vs,
                   const at::Tensor* const* steps, size_t n, double lr, double beta1, double beta2,
                   double wd, double eps, char** err) {
  try {
    torch::autograd::AutoGradMode no_grad(false);
    at::_fused_adam_(tensor_list(params, n), tensor_list(grads, n), tensor_list(ms, n),
                     tensor_list(vs, n), {}, tensor_list(steps, n), lr, beta1, beta2, wd, eps,
                     false, false);
    return 0;
  } catch (const std::exception& e) {
    *err = copy_error(e);
    return 1;
  }
}

void lrx_free_error(char* err) { std::free(err); }

}  // extern "C"
