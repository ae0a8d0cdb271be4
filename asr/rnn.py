"""Keras's GRU and LSTM with hand-written training gradients: same weights and outputs, faster.

Why: under Keras's generic RNN loop the backward pass of the time scan accumulates both
weight gradients step by step, with a product whose inner dimension is the batch (32), and
on 2 CPU cores it costs about five times the forward pass. Here only the recurrent product
(for the GRU (B, 3u) x (3u, u)) stays inside the backward loop; the input projection, its
gradients and the recurrent kernel's gradient become one large matrix product each, outside
it. Built from keras.ops alone (``custom_gradient``, ``scan``), so it runs under TensorFlow
and JAX; inference, other backends, TensorFlow on a GPU (cuDNN) and configurations it does
not cover use Keras's own loop.
"""

from __future__ import annotations

import functools

import keras
from keras import layers, ops

PACKAGE = "asr"
FAST_BACKENDS = ("jax", "tensorflow")


@functools.cache
def tensorflow_gpu() -> bool:
    """Under TensorFlow with a GPU Keras's GRU runs cuDNN's kernel, which beats any scan."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _split(x, units: int, parts: int) -> list:
    return [x[..., k * units : (k + 1) * units] for k in range(parts)]


def _scan(step, init: tuple, xs: list, reverse: bool = False) -> tuple:
    """``ops.scan`` over equally shaped (T, B, u) inputs with outputs shaped like ``init``.

    Keras's TensorFlow scan needs the per-step outputs to have the carry's structure (hence
    carries as wide as the outputs) and fails when more than one input has an unknown time
    length, as inside a model: there the inputs go in stacked as one (T, k, B, u) tensor.
    Under JAX that stacking made a training step 25 % slower, so it is TensorFlow's alone.
    """
    if keras.backend.backend() != "tensorflow":
        return ops.scan(step, init, tuple(xs), reverse=reverse)[1]
    packed = ops.stack(xs, axis=1)
    _, ys = ops.scan(
        lambda carry, x: step(carry, ops.unstack(x, len(xs), axis=0)), init, packed, reverse=reverse
    )
    shape = ops.shape(xs[0])  # the scan loses the static rank when T is unknown
    return tuple(ops.reshape(y, shape) for y in ys)


def _forward_scan(gz, gr, gh, m, h0, recurrent_kernel, recurrent_bias):
    """States, gates and the recurrent candidate input; masked steps keep the state (z = 1).

    Only what the next step needs is computed in the loop; the gradient's other factors
    are computed afterwards over all steps at once.
    """
    units = ops.shape(h0)[-1]

    def step(carry, inputs):
        h = carry[0]
        a, b, c, mt = inputs
        inner = ops.matmul(h, recurrent_kernel) + recurrent_bias
        iz, ir, ih = _split(inner, units, 3)
        # where() rather than arithmetic blending: a masked step must give z exactly 1
        z = ops.where(mt > 0, ops.sigmoid(a + iz), ops.ones_like(a))
        r = ops.sigmoid(b + ir)
        hh = ops.tanh(c + r * ih)
        out = (z * h + (1.0 - z) * hh, z, r, hh, ih)
        return out, out

    zeros = ops.zeros_like(h0)
    return _scan(
        step, (h0, zeros, zeros, zeros, zeros), [gz, gr, gh, ops.broadcast_to(m, ops.shape(gz))]
    )


@ops.custom_gradient
def _gru_recurrence(gz, gr, gh, m, h0, recurrent_kernel, recurrent_bias):
    """States (T, B, u) of a reset-after GRU from time-major input projections ``g*``."""
    states, z, r, hh, ih = _forward_scan(gz, gr, gh, m, h0, recurrent_kernel, recurrent_bias)

    def grad(*args, upstream=None):
        d_states = args[0] if upstream is None else upstream
        previous = ops.concatenate([ops.expand_dims(h0, 0), states[:-1]], axis=0)
        # d(state)/d(pre-activation) of the z gate and the candidate, d(candidate
        # pre-activation)/d(reset pre-activation); all 0 on masked steps, where z = 1
        f_z = (previous - hh) * z * (1.0 - z)
        f_h = (1.0 - z) * (1.0 - hh * hh)
        f_r = ih * r * (1.0 - r)
        kernel_t = ops.transpose(recurrent_kernel)

        def step(carry, inputs):
            d_out, z_t, fz, fh, fr, r_t = inputs
            d = carry[0] + d_out  # total gradient reaching this step's state
            d_h = d * fh
            d_inner = ops.concatenate([d * fz, d_h * fr, d_h * r_t], axis=-1)
            out = (d * z_t + ops.matmul(d_inner, kernel_t), d)
            return out, out

        zeros = ops.zeros_like(h0)
        d_previous, d = _scan(step, (zeros, zeros), [d_states, z, f_z, f_h, f_r, r], reverse=True)
        d_h0 = d_previous[0]
        d_z, d_h = d * f_z, d * f_h
        d_r = d_h * f_r
        d_inner = ops.concatenate([d_z, d_r, d_h * r], axis=-1)
        d_kernel = ops.einsum("tbi,tbj->ij", previous, d_inner)
        d_bias = ops.sum(d_inner, axis=(0, 1))
        return d_z, d_r, d_h, ops.zeros_like(m), d_h0, d_kernel, d_bias

    return states, grad


@ops.custom_gradient
def _lstm_recurrence(gi, gf, gg, go, m, h0, c0, recurrent_kernel):
    """Stacked (2, T, B, u) outputs and cell states of an LSTM from time-major projections.

    Keras's LSTM cell: gates i, f, o are sigmoids and the candidate g a tanh of
    ``x @ kernel + h @ recurrent_kernel + bias`` (the bias is already in ``g*``);
    ``c = f * c_prev + i * g`` and ``h = o * tanh(c)``. Masked steps keep both states.
    """
    units = ops.shape(h0)[-1]

    def step(carry, inputs):
        h, c = carry[0], carry[1]
        a, b, cc, d, mt = inputs
        zi, zf, zg, zo = _split(ops.matmul(h, recurrent_kernel), units, 4)
        i, f = ops.sigmoid(a + zi), ops.sigmoid(b + zf)
        g, o = ops.tanh(cc + zg), ops.sigmoid(d + zo)
        keep = mt > 0
        c_new = ops.where(keep, f * c + i * g, c)
        h_new = ops.where(keep, o * ops.tanh(c_new), h)
        out = (h_new, c_new, i, f, g, o)  # carried as well: see _scan
        return out, out

    zeros = ops.zeros_like(h0)
    m_full = ops.broadcast_to(m, ops.shape(gi))
    hs, cs, i, f, g, o = _scan(step, (h0, c0, zeros, zeros, zeros, zeros), [gi, gf, gg, go, m_full])

    def grad(*args, upstream=None):
        d_out = args[0] if upstream is None else upstream
        d_hs, d_cs = d_out[0], d_out[1]
        c_prev = ops.concatenate([ops.expand_dims(c0, 0), cs[:-1]], axis=0)
        tc = ops.tanh(cs)
        # Factors of the step's gradients; masking zeroes them, so masked steps pass the
        # incoming h and c gradients straight through (f_eff = 1, pass_h = 1).
        via_h = m_full * o * (1.0 - tc * tc)  # dc from dh
        f_i = m_full * g * i * (1.0 - i)
        f_f = m_full * c_prev * f * (1.0 - f)
        f_g = m_full * i * (1.0 - g * g)
        f_o = m_full * tc * o * (1.0 - o)
        f_eff = ops.where(m_full > 0, f, ops.ones_like(f))
        pass_h = 1.0 - m_full
        kernel_t = ops.transpose(recurrent_kernel)

        def back(carry, inputs):
            dh_out, dc_out, vh, fi, ff, fg, fo, fe, ph = inputs
            dh = carry[0] + dh_out
            dc = carry[1] + dc_out + dh * vh
            d_inner = ops.concatenate([dc * fi, dc * ff, dc * fg, dh * fo], axis=-1)
            out = (dh * ph + ops.matmul(d_inner, kernel_t), dc * fe, dh, dc)
            return out, out

        dh_prev, dc_prev, dh, dc = _scan(
            back,
            (zeros, zeros, zeros, zeros),
            [d_hs, d_cs, via_h, f_i, f_f, f_g, f_o, f_eff, pass_h],
            reverse=True,
        )
        d_i, d_f, d_g, d_o = dc * f_i, dc * f_f, dc * f_g, dh * f_o
        h_prev = ops.concatenate([ops.expand_dims(h0, 0), hs[:-1]], axis=0)
        d_inner = ops.concatenate([d_i, d_f, d_g, d_o], axis=-1)
        d_kernel = ops.einsum("tbi,tbj->ij", h_prev, d_inner)
        return d_i, d_f, d_g, d_o, ops.zeros_like(m), dh_prev[0], dc_prev[0], d_kernel

    return ops.stack([hs, cs], axis=0), grad


def _plain_recurrence(layer: layers.RNN, training) -> bool:
    """The conditions every fast path shares: float32 training, no cell dropout or state."""
    cell = layer.cell
    return bool(
        training
        and keras.backend.backend() in FAST_BACKENDS
        and not tensorflow_gpu()
        and cell.use_bias
        and not cell.dropout
        and not cell.recurrent_dropout
        and not layer.unroll
        and not layer.stateful
        and layer.return_sequences
        and layer.compute_dtype == "float32"
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
    )


def _time_major(layer: layers.RNN, sequences, mask):
    """(T, B, D) inputs and a (T, B, 1) float mask, in the order the layer walks them."""
    mask = mask[0] if isinstance(mask, (list, tuple)) else mask
    x = ops.transpose(sequences, (1, 0, 2))  # time-major: the scan walks axis 0
    if mask is None:
        m = ops.ones(ops.shape(x)[:2] + (1,), dtype="float32")
    else:
        m = ops.expand_dims(ops.transpose(ops.cast(mask, "float32"), (1, 0)), -1)
    if layer.go_backwards:
        x, m = ops.flip(x, axis=0), ops.flip(m, axis=0)
    return x, m


def _batch_major_outputs(layer: layers.RNN, states, m):
    """Keras's returned sequence: masked steps give zeros (Bidirectional forces this) or the
    carried state, in the layer's processing order, batch first."""
    outputs = states * m if layer.zero_output_for_mask else states
    return ops.transpose(outputs, (1, 0, 2))


@keras.saving.register_keras_serializable(package=PACKAGE)
class FastGRU(layers.GRU):
    """``keras.layers.GRU`` whose training pass uses :func:`_gru_recurrence` where it applies."""

    def _fast_path_applies(self, training) -> bool:
        return _plain_recurrence(self, training) and bool(self.cell.reset_after)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not self._fast_path_applies(training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        h0 = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        x, m = _time_major(self, sequences, mask)
        bias = self.cell.bias
        gz, gr, gh = _split(ops.matmul(x, self.cell.kernel) + bias[0], self.cell.units, 3)
        # a tensor, not the variable: TensorFlow's custom_gradient refuses functions that read
        # variables unless the gradient function handles them separately
        kernel = ops.copy(self.cell.recurrent_kernel)
        states = _gru_recurrence(gz, gr, gh, m, h0, kernel, bias[1])
        outputs = _batch_major_outputs(self, states, m)
        return outputs[:, -1], outputs, [states[-1]]


@keras.saving.register_keras_serializable(package=PACKAGE)
class FastLSTM(layers.LSTM):
    """``keras.layers.LSTM`` whose training pass uses :func:`_lstm_recurrence` where it applies."""

    def _fast_path_applies(self, training) -> bool:
        return _plain_recurrence(self, training)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not self._fast_path_applies(training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        h0, c0 = initial_state[0], initial_state[1]
        x, m = _time_major(self, sequences, mask)
        g = ops.matmul(x, self.cell.kernel) + self.cell.bias
        gi, gf, gg, go = _split(g, self.cell.units, 4)
        kernel = ops.copy(self.cell.recurrent_kernel)  # a tensor: see FastGRU
        both = _lstm_recurrence(gi, gf, gg, go, m, h0, c0, kernel)
        states, cells = both[0], both[1]
        outputs = _batch_major_outputs(self, states, m)
        return outputs[:, -1], outputs, [states[-1], cells[-1]]
