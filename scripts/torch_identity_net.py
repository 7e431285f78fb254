"""PyTorch CPU twin of facemb's identity network (configs/identity.toml), timed the way
`facemb bench` times it: training steps at batch 64 (Adam, BCE-with-logits on the face
head), inference at batch 256, 2 threads, random inputs. The BENCHMARKS.md row for the
identity network puts this beside `facemb bench -c configs/identity.toml`.

  python3 scripts/torch_identity_net.py              (needs torch; see ../shared/peers/README.md)
  python3 scripts/torch_identity_net.py --residual   (configs/archive/identity_residual.toml's network)

Block: Conv3x3(+bias) -> ReLU -> MaxPool2 -> BatchNorm2d, as facemb's conv_norm block
(BatchNorm after the pool keeps facemb's fused conv+ReLU+pool kernel one pass).
Embedding: Linear -> BatchNorm1d (the vector CosFace reads); face head: ReLU -> Linear(1).
--residual adds facemb's residual unit after each block: x + BN(conv(ReLU(BN(conv(x))))),
3x3 convolutions without bias keeping channels and size (src/model/mod.rs, Residual).
"""
import sys
import time

import torch
from torch import nn

torch.set_num_threads(2)
torch.manual_seed(0)

residual = "--residual" in sys.argv[1:]


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.body(x)


def block(cin, cout):
    unit = [Residual(cout)] if residual else []
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(cout)] + unit

channels = [32, 64, 128, 256]
layers, cin = [], 1
for c in channels:
    layers += block(cin, c)
    cin = c
side = 64 >> len(channels)
net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * side * side, 128), nn.BatchNorm1d(128),
                    nn.ReLU(), nn.Linear(128, 1))
opt = torch.optim.Adam(net.parameters(), 1e-3)
loss_fn = nn.BCEWithLogitsLoss()
xb, yb = torch.rand(64, 1, 64, 64), torch.randint(0, 2, (64, 1)).float()

def step():
    opt.zero_grad()
    loss_fn(net(xb), yb).backward()
    opt.step()

def timed(fn, reps):
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return time.perf_counter() - t

for _ in range(3):
    step()
steps = 30
train = steps * 64 / timed(step, steps)
net.eval()
xi = torch.rand(256, 1, 64, 64)
with torch.inference_mode():
    for _ in range(2):
        net(xi)
    reps = 10
    infer = reps * 256 / timed(lambda: net(xi), reps)
print(f"torch {torch.__version__} threads {torch.get_num_threads()} channels {channels} + BatchNorm"
      f"{' + residual units' if residual else ''}, E 128: "
      f"train {train:.0f} img/s (batch 64), inference {infer:.0f} img/s (batch 256)")
