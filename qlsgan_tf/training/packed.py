"""``PackedLatentGAN``: K independent latent-GAN runs trained at once in one compiled step.

A capacity study is thousands of small runs; trained one at a time the machine spends its
time dispatching ops and tracing graphs, not computing. Here the weights of K runs are
stacked on a leading run axis and the one GAN step (:func:`.gan_step.train_step`, the
losses of :mod:`.losses`, Adam of :class:`.optim.RunAdam`) updates all of them with batched
ops (``einsum``; the style circuits of all runs go through one ``fast_sim`` call). This
module holds the stacked networks only: no loss, penalty or optimizer of its own. Each run
keeps its own seed (its noise and penalty streams, :mod:`.streams`), its own critic (widths
padded to the widest with zero weights that stay zero), its own critic and generator
learning rates and Adam state; a run whose losses turn NaN/inf (:func:`.gan_step.finite_runs`)
is frozen (``active`` mask) and marked ``failed`` while the others go on. The same mask
freezes runs a caller considers finished.

A run trained in a pack follows exactly the arithmetic of :class:`LatentGAN` trained alone
(the same step with ``K = 1``) with the same seed, initial weights, learning rates and real
batches, and of the same run as a pack of one (tested to 1e-4).

The compiled training and sampling functions are bound to the variables of one instance,
so one pack shape is traced once: a caller keeps one instance per shape (the study: in
``tuning.lanes``) and ``reset`` loads new runs into it by assignment.
"""
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt
import tensorflow as tf

from qlsgan_tf.training import gan_step, optim, streams
from qlsgan_tf.training import losses as gan_losses
from qlsgan_tf.training.latent_gan import LOSSES, NOISES
from qlsgan_tf.validation import check_choice, check_finite_float, check_int

GENERATOR_KINDS = ("quantum", "classical")
XLA_MAX_QUBITS = 6
#: Largest circuit simulated by ``fast_sim.layered_expectations`` by default (one layer body in
#: a loop, per-run depth: circuits of several depths share one compiled step). Larger ones use
#: ``fast_sim.style_expectations`` (the pack's depth only). Measured in a compiled pack step
#: (``benchmarks/README.md``): at n = 3 the two cost the same per step; at n = 6 the layered
#: one is 3.8x slower per step and compiles in 60 s instead of 10.
LAYERED_MAX_QUBITS = 3


def _positive_int(name: str, value: Any) -> int:
    value = check_int(name, value, 1)
    return int(value)


def ingest_generator(spec: Mapping[str, Any]) -> Dict[str, Any]:
    """Checks a pack's generator dict (see :class:`PackedLatentGAN`); returns it normalised."""
    if not isinstance(spec, dict) or spec.get("kind") not in GENERATOR_KINDS:
        raise ValueError(f"generator must be a dict with kind in {GENERATOR_KINDS}, got "
                         f"{spec!r}.")
    if spec["kind"] == "quantum":
        from qlsgan_tf.layers import circuits

        n, n_layers = circuits.check_size(spec["n_qubits"], spec["n_layers"])
        ansatz, readout = spec.get("ansatz", "bel"), spec.get("readout", "z")
        circuits.check_ansatz(ansatz)
        circuits.check_readout(readout)
        return {"kind": "quantum", "n_qubits": n, "n_layers": n_layers, "ansatz": ansatz,
                "readout": readout, "noise_dim": int(spec.get("noise_dim") or n)}
    units = tuple(_positive_int("generator units", u) for u in spec.get("units", ()))
    return {"kind": "classical", "units": units,
            "noise_dim": _positive_int("generator noise_dim", spec.get("noise_dim")),
            "output_dim": _positive_int("generator output_dim", spec.get("output_dim")),
            "activation": spec.get("activation", "leaky_relu"),
            "output_activation": spec.get("output_activation", "tanh")}


def _fit_generator(spec: Dict[str, Any], shape: Mapping[str, Any],
                   layered: bool = True) -> Dict[str, Any]:
    """Checks that run generator ``spec`` fits a pack whose generator shape is ``shape``
    (both ingested): same kind, sizes and settings, at most as deep (quantum) or as wide
    (classical, layer by layer). Raises ``ValueError`` naming both."""
    if spec["kind"] == shape["kind"]:
        if spec["kind"] == "quantum":
            same = ("n_qubits", "ansatz", "readout", "noise_dim")
            fits = (spec["n_layers"] <= shape["n_layers"] if layered
                    else spec["n_layers"] == shape["n_layers"])
        else:
            same = ("noise_dim", "output_dim", "activation", "output_activation")
            fits = (len(spec["units"]) == len(shape["units"])
                    and all(a <= b for a, b in zip(spec["units"], shape["units"])))
        if fits and all(spec[key] == shape[key] for key in same):
            return spec
    raise ValueError(f"the run's generator {spec} does not fit this pack's generator {shape} "
                     "(same kind and sizes, at most as wide, at most as many layers - exactly "
                     "as many where the pack's circuit is not layered).")


def _quantum_layout(spec: Mapping[str, Any], max_layers: int) -> Tuple[np.ndarray, np.ndarray]:
    """Where a run's angles sit among a pack's padded angles: (positions, noise index of every
    padded angle). A circuit of ``L`` layers padded to ``max_layers``: its layers first, the
    padding (zero weights: the layers are skipped) after them, its final RY layer last."""
    from qlsgan_tf.layers import circuits

    n, layers, ansatz = spec["n_qubits"], spec["n_layers"], spec["ansatz"]
    count, padded = (circuits.n_angles(n, layers, ansatz),
                     circuits.n_angles(n, max_layers, ansatz))
    body = n * layers * circuits.get_ansatz(ansatz).angles_per_layer
    positions = np.r_[np.arange(body), np.arange(padded - (count - body), padded)]
    index = np.zeros([padded], np.int32)
    index[positions] = circuits.noise_index(count, spec["noise_dim"])
    return positions, index


def _ingest_critics(critic_units: Sequence[Sequence[int]], n_runs: int) -> List[Tuple[int, ...]]:
    units_list = [tuple(int(u) for u in units) for units in critic_units]
    if len(units_list) != n_runs:
        raise ValueError(f"critic_units must give the hidden widths of each of the {n_runs} "
                         f"runs, got {len(units_list)} entries.")
    depths = {len(u) for u in units_list}
    if len(depths) != 1:
        raise ValueError(f"all critics of a pack must have the same depth, got {units_list}.")
    if any(u < 1 for units in units_list for u in units):
        raise ValueError(f"critic widths must be positive, got {units_list}.")
    return units_list


def _per_run(name: str, value: npt.ArrayLike, n_runs: int, dtype: npt.DTypeLike) -> np.ndarray:
    values = np.broadcast_to(np.asarray(value, dtype), [n_runs]).copy()
    if np.issubdtype(values.dtype, np.floating) and not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"{name} must be finite and > 0 for every run, got {value!r}.")
    return values


def _dense_shapes(dims: Sequence[int]) -> List[Tuple[int, ...]]:
    """Kernel and bias shapes of an MLP with layer sizes ``dims`` (Keras ``get_weights`` order)."""
    return [s for a, b in zip(dims[:-1], dims[1:]) for s in ((a, b), (b,))]


def _corner(shape: Sequence[int]) -> Tuple[slice, ...]:
    """The index of a run's own ``shape`` at the start of its zero-padded weight."""
    return tuple(slice(0, d) for d in shape)


def _assign_padded(variables: Sequence[tf.Variable], k: int, weights: Sequence[Any]) -> None:
    """Sets run ``k``'s slice of each stacked variable to its weight, zero-padded."""
    for var, w in zip(variables, weights):
        w = np.asarray(w, np.float32)
        padded = np.zeros(var.shape[1:], np.float32)
        padded[_corner(w.shape)] = w
        var[k].assign(padded)


def _glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)


def _dense_weights(rng: np.random.Generator, dims: Sequence[int]) -> List[np.ndarray]:
    return [w for a, b in zip(dims[:-1], dims[1:])
            for w in (_glorot(rng, a, b), np.zeros([b], np.float32))]


def initial_weights(generator: Mapping[str, Any], critic_units: Sequence[int], latent_dim: int,
                    init_seed: int) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """A run's initial (generator, critic) weights, a function of ``init_seed`` alone, in the
    order of the Keras models' ``get_weights``: Glorot-uniform kernels and zero biases (Keras
    ``Dense``), style weights uniform in [-0.15, 0.15] (``StyleQuantumGenerator``). Runs of
    one seed share the generator's initial weights whatever their critic."""
    spec = ingest_generator(generator)
    rng = np.random.default_rng([int(init_seed), 7])
    if spec["kind"] == "quantum":
        from qlsgan_tf.layers import circuits

        n_angles = circuits.n_angles(spec["n_qubits"], spec["n_layers"], spec["ansatz"])
        g_weights = [rng.uniform(-0.15, 0.15, [n_angles]).astype(np.float32) for _ in "sb"]
    else:
        g_weights = _dense_weights(rng, [spec["noise_dim"], *spec["units"], int(latent_dim)])
    critic_rng = np.random.default_rng([int(init_seed), 11])
    return g_weights, _dense_weights(critic_rng, [int(latent_dim), *critic_units, 1])


@tf.keras.utils.register_keras_serializable(package="qlsgan_tf")
class PackedLatentGAN(tf.keras.Model):
    """K latent-GAN runs with stacked weights, trained in one step (see the module docstring).

    Args:
        generator: the pack's generator shape, a dict: ``{"kind": "quantum", "n_qubits",
            "n_layers", "ansatz", "readout"}`` (fast simulator, see ``layered``; noise width
            ``n_qubits``) or ``{"kind": "classical",
            "units", "noise_dim", "output_dim"}`` (an MLP like ``MLPGenerator``: leaky-ReLU
            hidden layers, tanh output). Each run may have its own generator of that kind
            (``reset(generators=...)``): a circuit of fewer layers (``layered`` packs: its
            layers beyond its depth are skipped) or an MLP of narrower layers (zero-padded
            like critics), so generators of several sizes share one compiled step.
        critic_units: per run, the hidden widths of its MLP critic (``MLPCritic``: leaky ReLU,
            one linear logit); all of one depth. Narrower critics are zero-padded.
        latent_dim: the VAE latent size (the generator's output and the critic's input).
        batch_size: real and generated samples per run and step.
        loss, gp_weight, n_critic, noise: as in :class:`LatentGAN`.
        jit_compile: compile the training step with XLA; ``None`` (default) does for
            classical generators and circuits of at most ``XLA_MAX_QUBITS`` qubits, where
            it halves the step time (``benchmarks/README.md``).
        layered: quantum packs: simulate with ``fast_sim.layered_expectations`` (runs of
            fewer layers than the pack's allowed); ``None`` (default) does for circuits of
            at most ``LAYERED_MAX_QUBITS`` qubits. Otherwise every run has the pack's depth.

    Per-run settings (``seeds``, learning rates, generators, initial weights) are given to
    :meth:`reset`.

    >>> pack = PackedLatentGAN({"kind": "quantum", "n_qubits": 3, "n_layers": 1},
    ...                        [(8, 8), (16, 8)], latent_dim=3, batch_size=64)
    >>> pack.reset(seeds=[0, 1], c_lr=1e-3, g_lr=1e-3)
    >>> history = pack.train(latents, steps=100)          # [steps, K, 4] per-run losses
    """

    def __init__(self, generator: Mapping[str, Any], critic_units: Sequence[Sequence[int]],
                 latent_dim: int, batch_size: int = 64, loss: str = "wgan-gp",
                 gp_weight: float = 10.0, n_critic: int = 5, noise: str = "uniform",
                 jit_compile: Optional[bool] = None, layered: Optional[bool] = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Ingest generator, critics and sizes.
        self.generator_spec = ingest_generator(generator)
        self.run_generators = [self.generator_spec]
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        if self.generator_spec["kind"] == "quantum":
            out = self.generator_spec["n_qubits"] * (1 if self.generator_spec["readout"] == "z"
                                                     else 2)
        else:
            out = self.generator_spec["output_dim"]
        if out != self.latent_dim:
            raise ValueError(f"the generator outputs {out} values but latent_dim is "
                             f"{self.latent_dim}.")
        self.critic_units = _ingest_critics(critic_units, len(critic_units))
        self.n_runs = len(self.critic_units)
        if self.n_runs < 1:
            raise ValueError("critic_units is empty: a pack needs at least one run.")
        self.batch_size = _positive_int("batch_size", batch_size)
        # Ingest loss, penalty, n_critic, noise.
        check_choice("loss", loss, LOSSES)
        gp_weight = check_finite_float("gp_weight", gp_weight, 0.0)
        check_choice("noise", noise, NOISES)
        self.loss_name, self.gp_weight, self.noise = loss, float(gp_weight), noise
        self.n_critic = _positive_int("n_critic", n_critic)
        self.noise_dim = self.generator_spec["noise_dim"]
        self.widths = [max(units[i] for units in self.critic_units)
                       for i in range(len(self.critic_units[0]))]
        if jit_compile is None:
            jit_compile = (self.generator_spec["kind"] == "classical"
                           or self.generator_spec["n_qubits"] <= XLA_MAX_QUBITS)
        self.jit_compile = bool(jit_compile)
        if layered is None:
            layered = (self.generator_spec["kind"] == "quantum"
                       and self.generator_spec["n_qubits"] <= LAYERED_MAX_QUBITS)
        self.layered = bool(layered) and self.generator_spec["kind"] == "quantum"
        self._make_variables()
        self.trace_count = 0
        self.first_call_s = 0.0  # wall time of the train calls that traced (and compiled)
        # Every loop of the step is an explicit ``tf.while_loop`` and every Python branch
        # tests Python values, so the functions are traced as written, without AutoGraph's
        # source conversion (a part of each pack's first call: ``benchmarks/README.md``).
        self._step_fn = (tf.function(self._step, jit_compile=True, autograph=False)
                         if self.jit_compile else self._step)
        self.sample_trace_count = 0
        self._train_fn = tf.function(self._train_chunk, autograph=False, input_signature=[
            tf.TensorSpec([None, self.latent_dim], tf.float32),
            tf.TensorSpec([None, self.n_runs, self.batch_size], tf.int32)])
        self._sample_fn = tf.function(self._sample, autograph=False, input_signature=[
            tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int64)])
        self.reset()

    # ------------------------------------------------------------------ variables
    def _variable(self, name: str, shape: Any, dtype: Any = tf.float32,
                  trainable: bool = False) -> tf.Variable:
        return tf.Variable(tf.zeros(shape, dtype), trainable=trainable, name=name)

    def _make_variables(self) -> None:
        K, spec = self.n_runs, self.generator_spec
        if spec["kind"] == "quantum":
            from qlsgan_tf.layers import circuits

            n_angles = circuits.n_angles(spec["n_qubits"], spec["n_layers"], spec["ansatz"])
            self.g_layers = self._variable("g_layers", [K], tf.int32)
            self.g_index = self._variable("g_index", [K, n_angles], tf.int32)
            g_shapes: List[Tuple[int, ...]] = [(n_angles,), (n_angles,)]
        else:
            g_shapes = _dense_shapes([self.noise_dim, *spec["units"], self.latent_dim])
        c_shapes = _dense_shapes([self.latent_dim, *self.widths, 1])
        self.g_vars = [self._variable(f"g{i}", [K, *s], trainable=True)
                       for i, s in enumerate(g_shapes)]
        self.c_vars = [self._variable(f"c{i}", [K, *s], trainable=True)
                       for i, s in enumerate(c_shapes)]
        self.g_adam = optim.RunAdam(self.g_vars, name="g_adam")
        self.c_adam = optim.RunAdam(self.c_vars, name="c_adam")
        self.c_masks = [self._variable(f"cmask{i}", v.shape) for i, v in enumerate(self.c_vars)]
        self.g_masks = [self._variable(f"gmask{i}", v.shape) for i, v in enumerate(self.g_vars)]
        self.g_lr, self.c_lr = self._variable("g_lr", [K]), self._variable("c_lr", [K])
        self.seeds = self._variable("seeds", [K], tf.int64)
        self.active = self._variable("active", [K], tf.bool)
        self.failed = self._variable("failed", [K], tf.bool)
        self.step = self._variable("step", [], tf.int64)

    def _critic_mask_values(self) -> List[np.ndarray]:
        """Per run, 1 where its critic's own weights sit in the padded ones, else 0."""
        masks = [np.zeros(v.shape, np.float32) for v in self.c_vars]
        for k in range(self.n_runs):
            for mask, shape in zip(masks, self._critic_shapes(k)):
                mask[(k, *_corner(shape))] = 1.0
        return masks

    def reset(self, seeds: Optional[npt.ArrayLike] = None, c_lr: npt.ArrayLike = 2e-4,
              g_lr: npt.ArrayLike = 2e-4, init_seeds: Optional[npt.ArrayLike] = None,
              generators: Optional[Sequence[Mapping[str, Any]]] = None) -> None:
        """Loads K fresh runs by assignment (no retracing): seeds, learning rates, generators,
        weights.

        Args:
            seeds: per run, the seed of its noise and penalty streams (default 0..K-1).
            c_lr, g_lr: critic and generator Adam learning rates, scalars or ``[K]``.
            init_seeds: per run, the seed of its initial weights (default ``seeds``):
                Glorot-uniform kernels and zero biases (Keras ``Dense``), style weights
                uniform in [-0.15, 0.15] (``StyleQuantumGenerator``).
            generators: per run, its generator dict (default: the pack's): of the pack's kind,
                at most as deep / wide (see the class docstring).
        """
        K = self.n_runs
        if generators is None:
            generators = [self.generator_spec] * K
        if len(generators) != K:
            raise ValueError(f"generators must give the generator of each of the {K} runs, "
                             f"got {len(generators)}.")
        self.run_generators = [_fit_generator(ingest_generator(g), self.generator_spec,
                                              self.layered) for g in generators]
        run_seeds = np.arange(K) if seeds is None else _per_run("seeds", seeds, K, np.int64)
        run_init_seeds = (run_seeds if init_seeds is None
                          else _per_run("init_seeds", init_seeds, K, np.int64))
        self.seeds.assign(run_seeds)
        self.c_lr.assign(_per_run("c_lr", c_lr, K, np.float32))
        self.g_lr.assign(_per_run("g_lr", g_lr, K, np.float32))
        for var, mask in zip(self.c_masks, self._critic_mask_values()):
            var.assign(mask)
        self._set_generator_layout()
        for k in range(K):
            self._assign_run(k, *initial_weights(self.run_generators[k], self.critic_units[k],
                                                 self.latent_dim, int(run_init_seeds[k])))
        self.g_adam.reset()
        self.c_adam.reset()
        self.active.assign(tf.ones([K], tf.bool))
        self.failed.assign(tf.zeros([K], tf.bool))
        self.step.assign(0)

    def _set_generator_layout(self) -> None:
        """Per run: the gradient masks of its generator's padded weights (and, quantum, its
        depth and the noise index of every padded angle)."""
        masks = [np.zeros(v.shape, np.float32) for v in self.g_vars]
        if self.generator_spec["kind"] == "quantum":
            layers = np.zeros(self.n_runs, np.int32)
            index = np.zeros(self.g_index.shape, np.int32)
            for k, spec in enumerate(self.run_generators):
                positions, index[k] = _quantum_layout(spec, self.generator_spec["n_layers"])
                layers[k] = spec["n_layers"]
                for mask in masks:
                    mask[k, positions] = 1.0
            self.g_layers.assign(layers)
            self.g_index.assign(index)
        else:
            for k in range(self.n_runs):
                for mask, shape in zip(masks, self._run_generator_shapes(k)):
                    mask[(k, *_corner(shape))] = 1.0
        for var, mask in zip(self.g_masks, masks):
            var.assign(mask)

    def _run_generator_shapes(self, k: int) -> List[Tuple[int, ...]]:
        """Run k's classical generator weight shapes (``MLPGenerator.get_weights`` order)."""
        spec = self.run_generators[k]
        return _dense_shapes([spec["noise_dim"], *spec["units"], self.latent_dim])

    def _critic_shapes(self, k: int) -> List[Tuple[int, ...]]:
        """Run k's critic weight shapes (``MLPCritic.get_weights`` order)."""
        return _dense_shapes([self.latent_dim, *self.critic_units[k], 1])

    def _assign_run(self, k: int, g_weights: Sequence[Any], c_weights: Sequence[Any]) -> None:
        if self.generator_spec["kind"] == "quantum":
            positions = _quantum_layout(self.run_generators[k],
                                        self.generator_spec["n_layers"])[0]
            for var, w in zip(self.g_vars, g_weights):
                padded = np.zeros(var.shape[1:], np.float32)
                padded[positions] = np.asarray(w, np.float32).reshape(-1)
                var[k].assign(padded)
        else:
            _assign_padded(self.g_vars, k, g_weights)
        _assign_padded(self.c_vars, k, c_weights)

    # ------------------------------------------------------------------ networks
    def generate_batched(self, noise: Any,
                         g_vars: Optional[Sequence[tf.Variable]] = None) -> tf.Tensor:
        """Noise ``[K, n, noise_dim]`` -> latents ``[K, n, latent_dim]``, run k by its weights."""
        g_vars = self.g_vars if g_vars is None else g_vars
        spec = self.generator_spec
        if spec["kind"] == "quantum":
            from qlsgan_tf.layers import fast_sim

            scale, bias = g_vars
            angles = (scale[:, None, :] * tf.gather(noise, self.g_index, axis=2, batch_dims=1)
                      + bias[:, None, :])
            shape = tf.shape(angles)
            flat = tf.reshape(angles, [shape[0] * shape[1], shape[2]])
            if not self.layered:
                out = fast_sim.style_expectations(flat, spec["n_qubits"], spec["n_layers"],
                                                  spec["ansatz"], spec["readout"],
                                                  jit_compile=False)
                return tf.reshape(out, [shape[0], shape[1], self.latent_dim])
            layers = tf.reshape(tf.broadcast_to(self.g_layers[:, None], shape[:2]), [-1])
            out = fast_sim.layered_expectations(flat, spec["n_qubits"], spec["n_layers"],
                                                spec["ansatz"], spec["readout"], layers=layers)
            return tf.reshape(out, [shape[0], shape[1], self.latent_dim])
        hidden = tf.keras.activations.get(spec["activation"])
        output = tf.keras.activations.get(spec["output_activation"])
        return self._mlp(noise, g_vars, hidden, output)

    def critic_batched(self, x: Any) -> tf.Tensor:
        """Latents ``[K, n, latent_dim]`` -> logits ``[K, n]``, run k by its own critic."""
        return self._mlp(x, self.c_vars, tf.keras.activations.get("leaky_relu"), None)[..., 0]

    @staticmethod
    def _mlp(x: Any, variables: Sequence[Any], hidden: Callable[[Any], Any],
             output: Optional[Callable[[Any], Any]]) -> tf.Tensor:
        n_layers = len(variables) // 2
        for i in range(n_layers):
            x = tf.einsum("kbi,kio->kbo", x, variables[2 * i]) + variables[2 * i + 1][:, None, :]
            if i < n_layers - 1:
                x = hidden(x)
            elif output is not None:
                x = output(x)
        return x

    # ------------------------------------------------------------------ training
    def _parts(self) -> gan_step.GANParts:
        """This pack as ``training.gan_step`` sees it: stacked networks, ``RunAdam`` updates
        (per-run learning rates; padding masked; frozen runs kept)."""
        return gan_step.GANParts(
            generate=self.generate_batched,
            critic=lambda x: self.critic_batched(x)[..., None],
            generator_variables=self.g_vars, critic_variables=self.c_vars,
            apply_generator=lambda grads: self.g_adam.apply(grads, self.g_lr, self.active,
                                                            masks=self.g_masks),
            apply_critic=lambda grads: self.c_adam.apply(grads, self.c_lr, self.active,
                                                         masks=self.c_masks),
            loss=gan_losses.get(self.loss_name), gp_weight=self.gp_weight,
            n_critic=self.n_critic, n_runs=self.n_runs)

    def _step(self, real: Any) -> tf.Tensor:
        """One generator step of every run (``gan_step.train_step``); a run whose losses are
        not finite is frozen and marked failed (``gan_step.finite_runs``). Returns the per-run
        ``[K, 4]`` (c_loss, g_loss, gp, w_dist)."""
        values = gan_step.train_step(self._parts(), real, self.seeds, self.step,
                                     self.noise_dim, self.noise)
        finite = gan_step.finite_runs(values[0], values[1])
        self.failed.assign(self.failed | (self.active & ~finite))
        self.active.assign(self.active & finite)
        self.step.assign_add(1)
        return tf.stack(values, axis=1)

    def _train_chunk(self, real_data: Any, indices: Any) -> tf.Tensor:
        self.trace_count += 1  # runs at trace time only: counts traces
        steps = tf.shape(indices)[0]
        out = tf.TensorArray(tf.float32, size=steps)

        def body(t: Any, out: Any) -> Tuple[Any, Any]:
            return t + 1, out.write(t, self._step_fn(tf.gather(real_data, indices[t])))

        _, out = tf.while_loop(lambda t, _: t < steps, body, (tf.constant(0), out))
        return out.stack()

    def train_step(self, data: Any) -> Dict[str, tf.Tensor]:
        """Keras ``fit`` step: ``data`` holds real batches ``[K, batch, latent_dim]``."""
        real = data[0] if isinstance(data, (tuple, list)) else data
        metrics = self._step(tf.cast(real, tf.float32))
        return {name: tf.reduce_mean(metrics[:, i])
                for i, name in enumerate(("c_loss", "g_loss", "gp", "w_dist"))}

    def train(self, latents: npt.ArrayLike, steps: int,
              data_seeds: Union[None, Sequence[int], np.ndarray] = None) -> np.ndarray:
        """Trains every active run ``steps`` generator steps on ``latents`` ``[N, latent_dim]``.

        Run k draws its real batches in its own order (``batch_indices`` with
        ``data_seeds[k]``, default its stream seed), continuing where the last call ended.
        Returns the per-step, per-run losses ``[steps, K, 4]`` (c_loss, g_loss, gp, w_dist).
        """
        latents = np.asarray(latents, np.float32)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim or not len(latents):
            raise ValueError(f"latents must have shape [N, {self.latent_dim}], got "
                             f"{list(latents.shape)}.")
        steps = _positive_int("steps", steps)
        seeds = self.seeds.numpy() if data_seeds is None else data_seeds
        idx = batch_indices(len(latents), self.batch_size, seeds, int(self.step.numpy()), steps)
        traces, start = self.trace_count, time.perf_counter()
        out = self._train_fn(tf.constant(latents), tf.constant(idx)).numpy()
        if self.trace_count != traces:
            self.first_call_s += time.perf_counter() - start
        return out

    # ------------------------------------------------------------------ sampling
    def _sample(self, n: Any, index: Any) -> tf.Tensor:
        self.sample_trace_count += 1
        noise = streams.stream_noise(self.seeds, streams.EVAL_COUNTER + index, n,
                                     self.noise_dim, self.noise)
        return self.generate_batched(noise)

    def sample(self, n: int, index: int = 0) -> np.ndarray:
        """``n`` generated latents per run, ``[K, n, latent_dim]`` float32; run k draws from
        its seed's evaluation stream number ``index`` (the same index: the same noise)."""
        n = _positive_int("n", n)
        return self._sample_fn(tf.constant(n, tf.int32), tf.constant(int(index), tf.int64)).numpy()

    def call(self, inputs: Any) -> tf.Tensor:
        """Noise ``[K, n, noise_dim]`` -> latents ``[K, n, latent_dim]``."""
        return self.generate_batched(tf.convert_to_tensor(inputs, tf.float32))

    # ------------------------------------------------------------------ single runs
    def run_weights(self, k: int) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Run k's weights without padding: (generator list, critic list) of NumPy arrays,
        in the order of the Keras models' ``get_weights``."""
        k = self._run_index(k)
        critic = [v[k].numpy()[_corner(shape)]
                  for v, shape in zip(self.c_vars, self._critic_shapes(k))]
        if self.generator_spec["kind"] == "quantum":
            positions = _quantum_layout(self.run_generators[k],
                                        self.generator_spec["n_layers"])[0]
            return [v[k].numpy()[positions] for v in self.g_vars], critic
        return [v[k].numpy()[_corner(shape)]
                for v, shape in zip(self.g_vars, self._run_generator_shapes(k))], critic

    def set_run(self, k: int, generator: tf.keras.Model, critic: tf.keras.Model) -> None:
        """Loads run k's weights from Keras models (a ``StyleQuantumGenerator`` model or
        ``MLPGenerator``, and an ``MLPCritic``) and resets its optimizer state."""
        k = self._run_index(k)
        g_weights, c_weights = generator.get_weights(), critic.get_weights()
        if [np.shape(w) for w in g_weights] != [np.shape(w) for w in self.run_weights(k)[0]]:
            raise ValueError(f"the generator's weights {[np.shape(w) for w in g_weights]} do not "
                             f"fit run {k}'s generator {self.run_generators[k]}.")
        if [np.shape(w) for w in c_weights] != self._critic_shapes(k):
            raise ValueError(f"the critic's weights {[np.shape(w) for w in c_weights]} do not "
                             f"fit run {k}'s critic widths {self.critic_units[k]}.")
        self._assign_run(k, g_weights, c_weights)
        self.g_adam.reset(k)
        self.c_adam.reset(k)

    def take_runs(self, source: "PackedLatentGAN", runs: Iterable[int]) -> None:
        """Loads runs ``runs`` of pack ``source`` into this pack, state and all (weights, Adam
        state, learning rates, seeds, masks, generator step), run ``runs[i]`` as run ``i``:
        a pack shrinks to its live runs and each goes on exactly where it was (its arithmetic
        does not depend on its pack-mates). This pack must have the runs' critics, in that
        order, and ``source``'s settings and generator shape; its rows beyond the runs
        taken stay frozen."""
        runs = [check_int("run index", k, 0, source.n_runs - 1) for k in runs]
        mine, theirs = self.get_config(), source.get_config()
        for config in (mine, theirs):
            config.pop("name")
            config.pop("critic_units")
        if mine != theirs or not 0 < len(runs) <= self.n_runs or any(
                tuple(self.critic_units[i]) != tuple(source.critic_units[k])
                for i, k in enumerate(runs)):
            raise ValueError(f"this pack ({self.n_runs} runs, critics {self.critic_units}) "
                             f"cannot take runs {runs} of a pack with critics "
                             f"{source.critic_units} and settings {theirs}.")
        # Rows beyond the runs taken hold a copy of the first, frozen: they never train.
        spare = self.n_runs - len(runs)
        runs = runs + [runs[0]] * spare
        self.run_generators = [source.run_generators[k] for k in runs]
        self._set_generator_layout()
        for var, mask in zip(self.c_masks, self._critic_mask_values()):
            var.assign(mask)
        index = tf.constant(runs, tf.int32)
        stacked = [(self.g_vars, source.g_vars), (self.c_vars, source.c_vars)]
        for mine_opt, their_opt in ((self.g_adam, source.g_adam), (self.c_adam, source.c_adam)):
            stacked += [(mine_opt.m, their_opt.m), (mine_opt.v, their_opt.v)]
            self._copy_rows(mine_opt.t, their_opt.t, index)
        for dst_list, src_list in stacked:
            for dst, src in zip(dst_list, src_list):
                self._copy_rows(dst, src, index)
        for name in ("g_lr", "c_lr", "seeds", "active", "failed"):
            self._copy_rows(getattr(self, name), getattr(source, name), index)
        if spare:
            taken = tf.range(self.n_runs) < self.n_runs - spare
            self.active.assign(self.active & taken)
            self.failed.assign(self.failed & taken)
        self.step.assign(source.step)

    @staticmethod
    def _copy_rows(dst: tf.Variable, src: tf.Variable, index: Any) -> None:
        """``dst[i] = src[index[i]]``, cut to ``dst``'s (narrower or equal) padded shape: a
        run's own weights sit at the corner of its padded ones."""
        rows = tf.gather(src, index)
        dst.assign(rows[(slice(None), *_corner(dst.shape[1:]))])

    def run_generator(self, k: int) -> tf.keras.Model:
        """Run k's generator as an ordinary Keras model (saved and sampled like today's)."""
        from qlsgan_tf.layers import StyleQuantumGenerator
        from qlsgan_tf.models import MLPGenerator

        spec = self.run_generators[self._run_index(k)]
        if spec["kind"] == "quantum":
            layer = StyleQuantumGenerator(spec["n_qubits"], spec["n_layers"],
                                          ansatz=spec["ansatz"], readout=spec["readout"],
                                          backend="fast")
            model = tf.keras.Sequential([tf.keras.Input((self.noise_dim,)), layer],
                                        name="quantum_generator")
        else:
            model = MLPGenerator(self.latent_dim, hidden_units=spec["units"],
                                 noise_dim=self.noise_dim, activation=spec["activation"],
                                 output_activation=spec["output_activation"])
        model.set_weights(self.run_weights(k)[0])
        return model

    def run_critic(self, k: int) -> tf.keras.Model:
        """Run k's critic as an ordinary ``MLPCritic`` (its own widths, padding removed)."""
        from qlsgan_tf.models import MLPCritic

        critic = MLPCritic(hidden_units=self.critic_units[self._run_index(k)],
                           input_dim=self.latent_dim)
        critic.set_weights(self.run_weights(k)[1])
        return critic

    def _run_index(self, k: int) -> int:
        return check_int("run index", k, 0, self.n_runs - 1)

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name, "generator": dict(self.generator_spec),
                "critic_units": [list(u) for u in self.critic_units],
                "latent_dim": self.latent_dim, "batch_size": self.batch_size,
                "loss": self.loss_name, "gp_weight": self.gp_weight, "n_critic": self.n_critic,
                "noise": self.noise, "jit_compile": self.jit_compile, "layered": self.layered}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "PackedLatentGAN":
        return cls(**config)

    def shape_key(self) -> str:
        """What a compiled step depends on: packs with equal keys share one instance."""
        return shape_key(self.get_config())

    def set_critics(self, critic_units: Sequence[Sequence[int]]) -> None:
        """Gives the runs other critics of the pack's depth and padded widths (no retrace: the
        compiled step depends on the widths only, :func:`shape_key`); load runs with
        :meth:`reset` or :meth:`take_runs` after it."""
        critic_units = _ingest_critics(critic_units, self.n_runs)
        widths = [max(units[i] for units in critic_units) for i in range(len(self.widths))]
        if len(critic_units[0]) != len(self.widths) or widths != self.widths:
            raise ValueError(f"critic_units {critic_units} do not have this pack's padded "
                             f"widths {self.widths}.")
        self.critic_units = critic_units


def shape_key(config: Mapping[str, Any]) -> str:
    """Hashable key of what a pack configuration compiles to (the name excluded): its settings,
    run count and padded critic widths, not each run's critic (:meth:`PackedLatentGAN.
    set_critics`)."""
    config = {k: v for k, v in config.items() if k != "name"}
    units = [tuple(int(u) for u in each) for each in config.pop("critic_units")]
    widths = [max(each[i] for each in units) for i in range(len(units[0]))] if units else []
    config["runs_and_widths"] = (len(units), widths)
    return repr(sorted((k, repr(v)) for k, v in config.items()))


def batch_indices(n_latents: int, batch_size: int, seeds: Union[Sequence[int], np.ndarray],
                  start_step: int, steps: int) -> np.ndarray:
    """Real-batch indices ``[steps, K, batch_size]`` int32 for steps ``start_step...``.

    Run k walks through the latents in epochs, each a permutation drawn from
    ``(seeds[k], epoch)``: a pure function of the seed and the step, so a run's data order
    does not depend on the pack it is in or on how its steps are split into calls.
    """
    n, batch = int(n_latents), int(batch_size)
    first, last = start_step * batch, (start_step + steps) * batch
    positions = np.arange(first, last)
    epochs, offsets = positions // n, positions % n
    out = np.empty([len(seeds), len(positions)], np.int32)
    for k, seed in enumerate(np.asarray(seeds, np.int64)):
        for epoch in range(int(epochs[0]), int(epochs[-1]) + 1):
            perm = np.random.default_rng([int(seed), epoch]).permutation(n)
            where = epochs == epoch
            out[k, where] = perm[offsets[where]]
    return np.ascontiguousarray(out.reshape(len(seeds), steps, batch).transpose(1, 0, 2))
