"""The competitor of the C++ trainer on a GPU (issue 18): the same network (simple-cnn or
resnet20, src/models/models.cpp), the same data (Fashion-MNIST from its IDX files, in pinned
host memory and copied per batch, as the C++ loader does), optimiser and batch size, in
PyTorch eager from Python. Prints images/s of training epochs after a warm-up,
one line of JSON, so bench/gpu/train.sh can set it beside `eelu train`'s figure.

    python bench/gpu/eager_train.py --model resnet20 --act eelu --amp bf16 --data DIR
"""
import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import eelu  # noqa: E402


def idx(path):
    raw = gzip.open(path, "rb").read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(raw[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def activation(name, channels):
    if name == "relu":
        return nn.ReLU()
    return eelu.EELU(channels, 1.0, 1.0, 0.6)  # eelu(eps=0.6, alpha=1, beta=1), alternating


def conv_bn_act(cin, cout, act):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), activation(act, cout)]


def simple_cnn(act):
    return nn.Sequential(*conv_bn_act(1, 32, act), nn.MaxPool2d(2, ceil_mode=True),
                         *conv_bn_act(32, 64, act), nn.MaxPool2d(2, ceil_mode=True),
                         *conv_bn_act(64, 128, act), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(0.5), nn.Linear(128, 10))


class Block(nn.Module):
    def __init__(self, cin, width, stride, act):
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(cin, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), activation(act, width),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width))
                         if stride != 1 or cin != width else nn.Identity())
        self.act = activation(act, width)

    def forward(self, x):
        return self.act(self.residual(x) + self.shortcut(x))


def resnet20(act):
    layers = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), activation(act, 16)]
    cin = 16
    for stage, width in enumerate((16, 32, 64)):
        for b in range(3):
            layers.append(Block(cin, width, 2 if b == 0 and stage > 0 else 1, act))
            cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="simple-cnn", choices=["simple-cnn", "resnet20"])
    p.add_argument("--act", default="relu", choices=["relu", "eelu"])
    p.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"])
    p.add_argument("--data", required=True, help="folder of Fashion-MNIST's four .gz files")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cuda")
    p.add_argument("--limit", type=int, default=0, help="train on the first N images (a smoke test)")
    a = p.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    torch.backends.cudnn.benchmark = True
    x = idx(Path(a.data) / "train-images-idx3-ubyte.gz").float().div_(255).unsqueeze(1)
    y = idx(Path(a.data) / "train-labels-idx1-ubyte.gz").long()
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    x = (x - 0.2860) / 0.3530  # Fashion-MNIST's mean and std, as the C++ loader normalises
    pin = (lambda t: t.pin_memory()) if cuda else (lambda t: t)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    torch.manual_seed(0)
    net = (simple_cnn if a.model == "simple-cnn" else resnet20)(a.act).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[a.amp]
    scaler = torch.amp.GradScaler(dev.type, enabled=a.amp == "fp16")
    n = x.shape[0]
    rates = []
    for epoch in range(a.epochs + 1):
        order = torch.randperm(n)
        sync()
        t0 = time.perf_counter()
        for i in range(0, n, a.batch_size):
            sel = order[i:i + a.batch_size]
            xb = pin(x[sel]).to(dev, non_blocking=True)
            yb = pin(y[sel]).to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                logits = net(xb)
            loss = nn.functional.cross_entropy(logits.float(), yb)
            opt.zero_grad(set_to_none=False)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            loss.item()  # the C++ trainer reads every step's loss too
        sync()
        if epoch > 0:
            rates.append(n / (time.perf_counter() - t0))
    rates.sort()
    print(json.dumps({"model": a.model, "act": a.act, "amp": a.amp, "images_per_second": rates[len(rates) // 2],
                      "epochs": a.epochs, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
