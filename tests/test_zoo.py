"""The model zoo among the bundled specs: published networks, checked against their published counts.

MACs are conv and dense weight multiply-accumulates, bias excluded (netcalc's totals.macs). Every
figure below was also reproduced with the same network built by hand with torch.nn (parameters
from model.parameters(), MACs from forward hooks: output elements × weight[0].numel()).
"""

from __future__ import annotations

import pytest

from netcalc import bundled
from netcalc.analyze import analyze
from netcalc.diagnostics import Diagnostics
from netcalc.spec import load


def _analysis(name: str):
    diags = Diagnostics()
    graph = load(str(bundled.find(name)), diags)
    assert graph is not None, [d.format() for d in diags.items]
    a = analyze(graph, diags)
    assert a.ok, [d.format() for d in diags.items]
    return a


def _cifar_params(n: int) -> int:
    """CIFAR ResNet (He et al. 2015, section 4.2) with n basic blocks per stage, option A shortcuts.

    Each block is two 3×3 convolutions without bias, each followed by a batchnorm (2C parameters):
      stem: 3·16·9 + 2·16 = 464; head: 64·10 + 10 = 650
      stage 1 (16 ch): n · (2·16·16·9 + 2·32) = 4,672·n
      stage 2 (32 ch): first 16·32·9 + 32·32·9 + 2·64 = 13,952; the others 2·32·32·9 + 128 = 18,560
      stage 3 (64 ch): first 32·64·9 + 64·64·9 + 2·128 = 55,552; the others 2·64·64·9 + 256 = 73,984
    total = 464 + 650 + 4,672n + 13,952 + 18,560(n − 1) + 55,552 + 73,984(n − 1) = 97,216n − 21,926
    n = 3: 269,722; n = 200 (ResNet-1202): 19,443,200 − 21,926 = 19,421,274.
    """
    return 97_216 * n - 21_926


def _cifar_macs(n: int) -> int:
    """Same net: stem 32·32·16·27 = 442,368; head 640; a stride-1 block 2·(HW·C·9C) = 4,718,592 in every
    stage (HW·C² is constant: 1024·16², 256·32², 64·64²); a stage's first strided block half that on its
    first convolution: 1,179,648 + 2,359,296 = 3,538,944.
    total = 443,008 + 2·3,538,944 + (3n − 2)·4,718,592 = 14,155,776n − 1,916,288 (n = 3: 40,551,040).
    """
    return 14_155_776 * n - 1_916_288


# He et al. 2015, Table 6 (CIFAR-10): ResNet-20/32/44/56/110/1202 have 0.27M/0.46M/0.66M/0.85M/1.7M/19.4M
# parameters; the exact counts are the formula above (and a hand-built torch.nn model).
CIFAR = {
    "resnet20-cifar": (3, 269_722, 40_551_040),
    "resnet32-cifar": (5, 464_154, 68_862_592),
    "resnet44-cifar": (7, 658_586, 97_174_144),
    "resnet56-cifar": (9, 853_018, 125_485_696),
    "resnet110-cifar": (18, 1_727_962, 252_887_680),
}

# torchvision.models (the parameter counts of its model documentation and of
# sum(p.numel() for p in model.parameters())); MACs as defined above, for a 3×224×224 input.
IMAGENET = {
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet34": (21_797_672, 3_663_761_408),
    "resnet50": (25_557_032, 4_089_184_256),
    "resnet101": (44_549_160, 7_801_405_440),
    "resnet152": (60_192_808, 11_513_626_624),
    "vgg11": (132_863_336, 7_609_090_048),
    "vgg13": (133_047_848, 11_308_466_176),
    "vgg16": (138_357_544, 15_470_264_320),
    "vgg19": (143_667_240, 19_632_062_464),
    "mobilenet-v2": (3_504_872, 300_774_272),
    "alexnet-torchvision": (61_100_840, 714_188_480),
}


@pytest.mark.parametrize(("name", "n", "params", "macs"), [(k, *v) for k, v in CIFAR.items()])
def test_cifar_resnets(name, n, params, macs):
    assert (_cifar_params(n), _cifar_macs(n)) == (params, macs)
    a = _analysis(name)
    assert a.totals.params == params
    assert a.totals.macs == macs
    assert a.rows[-1].out_shape == (10,)
    assert not a.diags.items


@pytest.mark.parametrize("n", [5, 9, 18])
def test_resnet20_depth_from_its_symbol(n):
    """resnet20-cifar's `repeat: N` (a symbol with the default 3): --set N=n gives the CIFAR ResNet of
    6n + 2 layers, with the hand formulas' figures, and n basic blocks in each stage."""
    diags = Diagnostics()
    graph = load(str(bundled.find("resnet20-cifar")), diags, values={"N": n})
    a = analyze(graph, diags)
    assert a.ok, [d.format() for d in diags.items]
    assert (a.totals.params, a.totals.macs) == (_cifar_params(n), _cifar_macs(n))
    convs = [r for r in a.rows if r.node.op == "conv2d"]
    assert len(convs) == 6 * n + 1  # the stem and 2 per block; the dense layer makes 6n + 2
    assert not a.graph.symbols.free  # a count of layers is never a free size


def test_resnet20_stage_outputs():
    a = _analysis("resnet20-cifar")
    last = {}
    for r in a.rows:
        stage = r.node.name.split(".")[0]
        if stage.startswith("layer"):  # named as CIFAR ResNet code names its stages, after torchvision
            last[stage] = r.out_shape  # rows are in order: the stage's last row is its output
    assert last == {"layer1": (16, 32, 32), "layer2": (32, 16, 16), "layer3": (64, 8, 8)}


def test_resnet1202_cifar():
    """200 blocks per stage (3,600 rows): it must analyse, with the formula's count. Its speed is the
    benchmarks' business, not asserted here."""
    a = _analysis("resnet1202-cifar")
    assert a.totals.params == _cifar_params(200) == 19_421_274
    assert a.totals.macs == _cifar_macs(200) == 2_829_238_912
    assert a.rows[-1].out_shape == (10,)


@pytest.mark.parametrize(("name", "params", "macs"), [(k, *v) for k, v in IMAGENET.items()])
def test_imagenet_models(name, params, macs):
    a = _analysis(name)
    assert a.totals.params == params
    assert a.totals.macs == macs
    assert a.rows[-1].out_shape == (1000,)
    assert not a.diags.items


def test_resnet50_stage_outputs():
    a = _analysis("resnet50")
    last = {}
    for r in a.rows:
        stage = r.node.name.split(".")[0]
        if stage.startswith("stage") or stage == "stem":
            last[stage] = r.out_shape
    assert last == {
        "stem": (64, 56, 56),
        "stage1": (256, 56, 56),
        "stage2": (512, 28, 28),
        "stage3": (1024, 14, 14),
        "stage4": (2048, 7, 7),
    }


def test_vgg16_flattens_25088():
    a = _analysis("vgg16")
    flatten = next(r for r in a.rows if r.node.op == "flatten")
    assert flatten.out_shape == (25_088,)
    dense = [r for r in a.rows if r.node.op == "dense"]
    # 25,088·4,096 + 4,096; 4,096·4,096 + 4,096; 4,096·1,000 + 1,000
    assert [r.params for r in dense] == [102_764_544, 16_781_312, 4_097_000]


# torchvision's vgg16 and alexnet at other image sizes: the adaptive average pool keeps the classifier's
# input (and so the parameters) fixed; MACs from forward hooks on torchvision's own models built at
# these sizes (output elements × weight[0].numel() of each Conv2d and Linear).
OTHER_SIZES = [
    ("vgg16", {"H": 160, "W": 192}, 138_357_544, 9_519_529_984),
    ("vgg11", {"H": 64, "W": 96}, 132_863_336, 1_040_220_160),
    ("alexnet-torchvision", {"H": 100, "W": 131}, 61_100_840, 201_986_048),
]


@pytest.mark.parametrize(("name", "sizes", "params", "macs"), OTHER_SIZES)
def test_torchvision_models_at_other_sizes(name, sizes, params, macs):
    diags = Diagnostics()
    graph = load(str(bundled.find(name)), diags, values=sizes)
    a = analyze(graph, diags)
    assert a.ok, [d.format() for d in diags.items]
    assert (a.totals.params, a.totals.macs) == (params, macs)
    assert a.rows[-1].out_shape == (1000,)


def test_mobilenet_v2_residual_adds():
    """torchvision adds the input back in the 10 blocks with stride 1 and equal channels: n − 1 per
    table row with n ≥ 2, (2, 3, 4, 3, 3) − 1 = 1 + 2 + 3 + 2 + 2."""
    a = _analysis("mobilenet-v2")
    assert len([r for r in a.rows if r.node.op == "add"]) == 10
    depthwise = [r for r in a.rows if r.node.op == "conv2d" and r.node.args["groups"] == "depthwise"]
    assert len(depthwise) == 17
