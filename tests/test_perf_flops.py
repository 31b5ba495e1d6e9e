"""benchmarks/perf/flops.py against hand counts (stdlib only: the counter needs no TensorFlow).

Convention under test (flops.py's docstring): a multiply-add = 2 FLOPs, backward = 2 × forward for every
weight layer (input gradient + weight gradient), elementwise ops (bias, activations, batch norm, loss,
optimiser) ignored, convolutions counted over their whole output grid with "same" padding.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "perf" / "flops.py"
_spec = importlib.util.spec_from_file_location("perf_flops", _PATH)
flops = importlib.util.module_from_spec(_spec)
sys.modules["perf_flops"] = flops  # dataclasses looks the module up while building the classes
_spec.loader.exec_module(flops)


def test_single_dense_layer_by_hand():
    # Dense(3 → 2) on a batch of 4: each of the 4 examples does 3 · 2 = 6 multiply-adds → 24 multiply-adds,
    # forward = 2 · 24 = 48 FLOPs; backward = dL/dx (4·2·3 = 24 MACs) + dL/dW (3·2 summed over 4 = 24 MACs)
    # = 48 MACs = 96 FLOPs; step = 48 + 96 = 144 FLOPs, 144 / 4 = 36 per example.
    count = flops.step_flops([flops.Dense(3, 2)], batch=4)
    assert count == {"forward": 48, "backward": 96, "total": 144, "per_example": 36.0}


def test_tiny_mlp_by_hand():
    # Dense(3 → 5) then Dense(5 → 2), batch 4.
    #   multiply-adds per example: 3·5 + 5·2 = 15 + 10 = 25; batch 4 → 100
    #   forward  = 2 · 100 = 200 FLOPs
    #   backward = 2 · 200 = 400 FLOPs            (total 600, 150 per example)
    #   without the images' gradient, the first layer's dL/dx (4 · 15 = 60 MACs = 120 FLOPs) goes:
    #   backward = 400 − 120 = 280, total 480.
    layers = [flops.Dense(3, 5), flops.Dense(5, 2)]
    assert flops.step_flops(layers, batch=4) == {"forward": 200, "backward": 400, "total": 600, "per_example": 150.0}
    assert flops.step_flops(layers, batch=4, first_input_grad=False)["total"] == 480


def test_tiny_conv_net_by_hand():
    # 4×4×1 image, batch 2, 3×3 kernels, "same" padding:
    #   Conv2D(1 → 2, stride 1): output 4×4, 16 positions · 9 taps · 1 · 2 channels = 288 MACs
    #   Conv2D(2 → 3, stride 2): output ⌈4/2⌉ = 2 → 2×2, 4 · 9 · 2 · 3            = 216 MACs
    #   Dense(2·2·3 = 12 → 4)                                                      =  48 MACs
    #   Conv2DTranspose(3 → 1, stride 2) on a 2×2 grid → 4×4 output: every one of the 4 *input* pixels
    #   is scattered through the 3×3 kernel, 4 · 9 · 3 · 1                         = 108 MACs
    #   (not 16 output positions · 9 · 3 = 432: that would count the zeros a stride-2 transpose inserts)
    # per example 288 + 216 + 48 + 108 = 660 MACs; batch 2 → 1320 MACs
    # forward 2 · 1320 = 2640 FLOPs, backward 5280, total 7920 = 3960 per example.
    c1 = flops.Conv2D(4, 4, 1, 2, kernel=3, stride=1)
    c2 = flops.Conv2D(4, 4, 2, 3, kernel=3, stride=2)
    t = flops.Conv2DTranspose(2, 2, 3, 1, kernel=3, stride=2)
    assert c1.output_grid() == (4, 4) and c2.output_grid() == (2, 2) and t.output_grid() == (4, 4)
    assert (c1.macs(), c2.macs(), t.macs()) == (288, 216, 108)
    count = flops.step_flops([c1, c2, flops.Dense(12, 4), t], batch=2)
    assert count == {"forward": 2640, "backward": 5280, "total": 7920, "per_example": 3960.0}
    # Without the images' gradient: minus c1's dL/dx, 2 · 288 MACs = 1152 FLOPs.
    assert flops.step_flops([c1, c2, flops.Dense(12, 4), t], batch=2, first_input_grad=False)["total"] == 7920 - 1152


def test_odd_grid_with_stride_two_rounds_up():
    # "same" padding: a 5×5 input at stride 2 gives ⌈5/2⌉ = 3 → 3×3 output; 9 · 9 · 1 · 1 = 81 MACs.
    assert flops.Conv2D(5, 5, 1, 1, 3, 2).output_grid() == (3, 3)
    assert flops.Conv2D(5, 5, 1, 1, 3, 2).macs() == 81


def test_benchmark_mlp_by_hand():
    # encoder 784·512 + 512·512 + 512·64 = 401408 + 262144 + 32768 = 696320 MACs
    # decoder  32·512 + 512·512 + 512·784 =  16384 + 262144 + 401408 = 679936 MACs
    # 1376256 MACs/image · 2 (FLOPs) · 3 (forward + backward) = 8257536 FLOPs ≈ 8.26 MFLOP/image
    assert flops.flops_per_image("mlp") == 8_257_536
    # minus the images' gradient of Dense(784 → 512): 2 · 401408 = 802816 → 7454720
    assert flops.flops_per_image("mlp", first_input_grad=False) == 8_257_536 - 802_816


def test_benchmark_conv_net_by_hand():
    # encoder, 28×28×1 in:
    #   Conv 1→32 s1, out 28×28: 784 · 9 · 1 · 32  =   225792
    #   Conv 32→64 s2, out 14×14: 196 · 9 · 32 · 64 = 3612672
    #   Conv 64→64 s2, out 7×7:    49 · 9 · 64 · 64 = 1806336
    #   Conv 64→64 s1, out 7×7:    49 · 9 · 64 · 64 = 1806336
    #   Dense 3136 → 64:           3136 · 64        =  200704      encoder 7651840
    # decoder:
    #   Dense 32 → 3136:           32 · 3136        =  100352
    #   ConvT 64→64 s1 on 7×7:     49 · 9 · 64 · 64 = 1806336
    #   ConvT 64→64 s2 on 7×7:     49 · 9 · 64 · 64 = 1806336  (→ 14×14)
    #   ConvT 64→32 s2 on 14×14:  196 · 9 · 64 · 32 = 3612672  (→ 28×28)
    #   ConvT 32→1 s1 on 28×28:   784 · 9 · 32 · 1  =  225792      decoder 7551488
    # 15203328 MACs/image · 6 = 91219968 FLOPs ≈ 91.2 MFLOP/image
    layers = flops.architecture_layers("conv")
    assert [layer.macs() for layer in layers] == [225792, 3612672, 1806336, 1806336, 200704,
                                                  100352, 1806336, 1806336, 3612672, 225792]
    assert flops.flops_per_image("conv") == 91_219_968
    assert flops.step_flops(layers, batch=128)["total"] == 128 * 91_219_968
