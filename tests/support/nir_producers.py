# SPDX-License-Identifier: MIT
"""Small networks built with snnTorch, Norse, Sinabs and SpikingJelly, exported to NIR by the
libraries themselves, with each library's own simulation of them (tests/test_interop_nir.py,
docs/interop.md). Every network: ``build(seed) -> (graph, run, dt, frames)`` where ``run(x)``
gives the library's own output per step ``(N, T, classes)`` for 0/1 events ``x`` of shape
``(N, T, *input_shape)``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

warnings.filterwarnings("ignore", message=".*Triton.*")

Run = Callable[[np.ndarray], np.ndarray]


def numpy_graph(graph: Any) -> Any:
    """The producer's graph with torch tensors turned into numpy arrays (0-d ones into size-1
    arrays) and a missing Conv2d input_shape or Flatten input_type filled in, so that
    ``nir.write`` can store it (Sinabs and Norse leave tensors, Norse 0-d parameters, Sinabs
    None shapes; no value changes)."""
    import nir

    from spq.interop.graph import parse

    def fix(v: Any) -> Any:
        v = v.detach().cpu().numpy() if hasattr(v, "detach") else v
        # 0-d arrays (Norse's scalars) cannot be stored gzip-compressed: size-1 arrays
        return v.reshape(1) if isinstance(v, np.ndarray) and v.ndim == 0 else v

    for node in graph.nodes.values():
        for key, value in list(vars(node).items()):
            if key not in ("input_type", "output_type", "metadata"):
                setattr(node, key, fix(value))
    # fill Conv2d input_shape from the chain's shapes
    _, ops = parse(graph)
    for op in ops:
        node = graph.nodes[op.name]
        if isinstance(node, nir.Conv2d) and node.input_shape is None:
            node.input_shape = np.array(op.in_shape[1:])
        if isinstance(node, nir.Flatten) and node.input_type.get("input") is None:
            node.input_type = {"input": np.array(op.in_shape)}
    return graph


def _steps(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32))


def snntorch_net(seed: int) -> tuple[Any, Run, float, tuple[int, ...]]:
    """Linear 20 -> 16 -> 5 with snn.Leaky (per-neuron beta and threshold, reset to zero in
    the same step: NIR's semantics)."""
    import snntorch as snn
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(seed)

    def leaky(n: int, beta: float, out: bool = False) -> Any:
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n), init_hidden=True,
                         reset_mechanism="zero", reset_delay=False, output=out)

    net = torch.nn.Sequential(torch.nn.Linear(20, 16), leaky(16, 0.9), torch.nn.Linear(16, 5),
                              leaky(5, 0.8, True))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(2.5)
    graph = export_to_nir(net, torch.zeros(20))

    def run(x: np.ndarray) -> np.ndarray:
        utils.reset(net)
        xs = _steps(x)
        outs = []
        with torch.no_grad():
            for t in range(xs.shape[1]):
                spk, _ = net(xs[:, t])
                outs.append(spk)
        return torch.stack(outs, 1).numpy()

    return graph, run, 1e-4, (20,)


def norse_net(seed: int) -> tuple[Any, Run, float, tuple[int, ...]]:
    """Linear 20 -> 16 LIFBox -> 5 LIBox (a non-spiking readout), Norse's dt = 1e-3 (the
    graph takes dt = 1e-6, see below)."""
    import norse.torch as norse

    torch.manual_seed(seed)
    p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(200.0), v_th=torch.tensor(0.5))
    net = norse.SequentialState(torch.nn.Linear(20, 16), norse.LIFBoxCell(p),
                                torch.nn.Linear(16, 5), norse.LIBoxCell())
    with torch.no_grad():
        net[0].weight.mul_(8.0)
    graph = norse.to_nir(net, torch.zeros(1, 20))

    def run(x: np.ndarray) -> np.ndarray:
        xs = _steps(x)
        state = None
        outs = []
        with torch.no_grad():
            for t in range(xs.shape[1]):
                out, state = net(xs[:, t], state)
                outs.append(out)
        return torch.stack(outs, 1).numpy()

    # Norse 1.1.0 writes tau = dt / tau_mem_inv (its importer reads tau_mem_inv = 1 / tau):
    # the graph's taus are in units of dt seconds, so it runs as Norse does with dt^2
    return graph, run, 1e-3 * 1e-3, (20,)


def sinabs_net(seed: int) -> tuple[Any, Run, float, tuple[int, ...]]:
    """Conv 2 -> 4 (3x3, pad 1), IAF, SumPool 2, Flatten, Linear 64 -> 5, IAF (a spike-count
    readout); one spike per step and reset to zero (NIR's semantics). Sinabs counts time in
    steps: its graphs take dt = 1."""
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    torch.manual_seed(seed)

    def iaf() -> Any:
        return sl.IAFSqueeze(batch_size=1, spike_fn=SingleSpike, reset_fn=MembraneReset())

    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1, bias=False), iaf(),
                              sl.SumPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(64, 5, bias=False), iaf())
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[4].weight.mul_(2.0)
    graph = sinabs.to_nir(net, torch.zeros(1, 2, 8, 8))

    def run(x: np.ndarray) -> np.ndarray:
        n, t = x.shape[:2]
        outs = []
        with torch.no_grad():
            for k in range(n):  # batch_size=1 squeeze layers: one sample, all steps at once
                for m in net:
                    if isinstance(m, sl.IAFSqueeze):
                        m.reset_states()
                outs.append(net(_steps(x[k])).reshape(t, -1))
        return torch.stack(outs).numpy()

    return graph, run, 1.0, (2, 8, 8)


def spikingjelly_net(seed: int) -> tuple[Any, Run, float, tuple[int, ...]]:
    """Conv 2 -> 4 (3x3, pad 1), LIF (tau 2, hard reset), AvgPool 2, Flatten, Linear 64 -> 5,
    IF (a spike-count readout). SpikingJelly's export assumes dt = 1e-4."""
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    torch.manual_seed(seed)
    net = torch.nn.Sequential(layer.Conv2d(2, 4, 3, padding=1), neuron.LIFNode(tau=2.0),
                              layer.AvgPool2d(2), layer.Flatten(), layer.Linear(64, 5),
                              neuron.IFNode())
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[4].weight.mul_(4.0)
    graph = export_to_nir(net, torch.zeros(1, 2, 8, 8))

    def run(x: np.ndarray) -> np.ndarray:
        functional.reset_net(net)
        xs = _steps(x)
        outs = []
        with torch.no_grad():
            for t in range(xs.shape[1]):
                outs.append(net(xs[:, t]))
        functional.reset_net(net)
        return torch.stack(outs, 1).numpy()

    return graph, run, 1e-4, (2, 8, 8)


PRODUCERS: dict[str, Callable[[int], tuple[Any, Run, float, tuple[int, ...]]]] = {
    "snntorch": snntorch_net,
    "norse": norse_net,
    "sinabs": sinabs_net,
    "spikingjelly": spikingjelly_net,
}


def events(shape: tuple[int, ...], n: int, steps: int, seed: int,
           density: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, steps, *shape)) < density).astype(np.uint8)
