//! The contract between the training engine and the observables (method.md §1.1).

use tch::Tensor;

/// Which kernel the layer-wise activity change (`gradavg`) flows through for networks with
/// separate backward weights (FA, IA, ...). method.md §1.1: UNCERTAIN in the paper; the code as
/// written takes it through B, so `Backward` is the default for such rules. For networks without
/// backward weights both give the forward Jacobian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JacobianVia {
    /// Through the forward weights W (the true Jacobian).
    Forward,
    /// Through the backward weights B, as the rule's backward pass does (the default for
    /// rules with B).
    Backward,
}

/// A learnable Dense or Conv2D layer as the observables see it.
pub trait ObservableLayer {
    /// Canonical layer name (method.md §7), e.g. `conv1`, `block_group1_0/conv0`, `fc4`.
    fn name(&self) -> &str;
    /// The forward kernel W only (no bias, no BN parameters), any layout: statistics reduce over
    /// all elements (Frobenius norm, method.md §1.2).
    fn kernel(&self) -> Tensor;
    /// The layer's own output for input `x`, i.e. `activation(op(x, W) + bias)` exactly as in
    /// training (method.md §1.1 "act"). When `via == Backward` and the layer has backward weights
    /// B, the returned tensor has the same value but its gradient with respect to `x` flows
    /// through B (dx = dy·B), as in the rule's training backward pass.
    fn forward_layer(&self, x: &Tensor, via: JacobianVia) -> Tensor;
}
