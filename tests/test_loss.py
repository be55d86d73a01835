"""The contrastive loss: against open_clip's ClipLoss and a naive loop, its properties, the temperature clamp,
and the distributed loss in 2 real processes (gloo, CPU) against one process on the whole batch."""

import math

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

import minclip
from minclip.loss import ClipLoss, clamp_logit_scale, clip_loss

MODES = [dict(gather_with_grad=False), dict(gather_with_grad=True), dict(gather_with_grad=True, local_loss=True)]


def batch(n=8, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g), torch.tensor(1 / 0.07)


def naive_loss(image_features, text_features, scale):
    """Figure 3 of the paper, one row and one column at a time."""
    img, txt = F.normalize(image_features, dim=-1), F.normalize(text_features, dim=-1)
    n = len(img)
    loss_i = sum(-torch.log_softmax(scale * img[i] @ txt.t(), dim=0)[i] for i in range(n)) / n
    loss_t = sum(-torch.log_softmax(scale * txt[j] @ img.t(), dim=0)[j] for j in range(n)) / n
    return (loss_i + loss_t) / 2


def test_equals_open_clip_value_and_gradients():
    open_clip = pytest.importorskip("open_clip")
    image, text, scale = batch()
    ours = [t.clone().requires_grad_() for t in (image, text, scale)]
    ref = [t.clone().requires_grad_() for t in (image, text, scale)]
    loss_ours = clip_loss(*ours)
    # open_clip's ClipLoss expects normalised features; normalising inside the graph keeps the gradients comparable
    loss_ref = open_clip.loss.ClipLoss()(F.normalize(ref[0], dim=-1), F.normalize(ref[1], dim=-1), ref[2])
    torch.testing.assert_close(loss_ours, loss_ref)
    loss_ours.backward(), loss_ref.backward()
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a.grad, b.grad)


def test_equals_naive_loop():
    image, text, scale = batch(n=5, seed=3)
    torch.testing.assert_close(clip_loss(image, text, scale), naive_loss(image, text, scale))
    assert minclip.clip_loss is clip_loss and minclip.ClipLoss is ClipLoss


def test_hard_negatives_are_extra_columns_of_the_image_side_only():
    image, text, scale = batch(n=5, seed=4)
    negatives = torch.randn(3, 16, generator=torch.Generator().manual_seed(5))
    img, txt, neg = (F.normalize(x, dim=-1) for x in (image, text, negatives))
    all_texts = torch.cat([txt, neg])
    loss_i = sum(-torch.log_softmax(scale * img[i] @ all_texts.t(), dim=0)[i] for i in range(5)) / 5
    loss_t = sum(-torch.log_softmax(scale * txt[j] @ img.t(), dim=0)[j] for j in range(5)) / 5
    torch.testing.assert_close(clip_loss(image, text, scale, negatives), (loss_i + loss_t) / 2)
    assert clip_loss(image, text, scale, negatives) > clip_loss(image, text, scale)  # more to tell apart
    torch.testing.assert_close(clip_loss(image, text, scale, negatives[:0]), clip_loss(image, text, scale))


@pytest.mark.parametrize("n", [2, 10, 100])
def test_uninformative_features_give_log_n(n):
    image = torch.ones(n, 4)  # every image equals every text: all logits equal
    torch.testing.assert_close(clip_loss(image, image.clone(), torch.tensor(14.3)), torch.tensor(math.log(n)))
    random = clip_loss(*batch(n=n, d=512, seed=1)[:2], torch.tensor(1.0))  # random, nearly orthogonal at scale 1
    assert abs(random.item() - math.log(n)) < 0.1


def test_joint_permutation_invariance_and_aligned_pairs():
    image, text, scale = batch(n=12)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(clip_loss(image[perm], text[perm], scale), clip_loss(image, text, scale))
    assert not torch.isclose(clip_loss(image, text[perm], scale), clip_loss(image, text, scale))
    eye = torch.eye(12)
    assert clip_loss(eye, eye * 3, torch.tensor(100.0)).item() < 1e-30  # aligned, orthogonal pairs
    one = clip_loss(torch.randn(1, 8), torch.randn(1, 8), torch.tensor(100.0))
    assert one.item() == 0.0  # a batch of one has no negatives


def test_temperature_clamp():
    t = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    assert abs(t.item() - 2.6593) < 1e-4
    t.data.fill_(6.0)
    clamp_logit_scale(t)
    assert t.item() == pytest.approx(math.log(100)) and t.exp().item() == pytest.approx(100.0)
    t.data.fill_(-1.0)
    clamp_logit_scale(t)
    assert t.item() == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        clip_loss(torch.randn(4, 8), torch.randn(5, 8), torch.tensor(1.0))
    with pytest.raises(ValueError, match="needs gather_with_grad=True"):
        ClipLoss(local_loss=True)
    image, text, scale = batch()
    torch.testing.assert_close(ClipLoss()(image, text, scale), clip_loss(image, text, scale))  # no process group


# -- two processes ---------------------------------------------------------------------------------------------


def _worker(rank, world, init_file, out_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    image, text, scale = batch(n=8)
    n = len(image) // world
    results = []
    for mode in MODES:
        local = [image[rank * n : (rank + 1) * n].clone().requires_grad_(),
                 text[rank * n : (rank + 1) * n].clone().requires_grad_(), scale.clone().requires_grad_()]
        loss = ClipLoss(**mode)(*local)
        loss.backward()
        results.append((loss.detach(), *(t.grad for t in local)))
    torch.save(results, f"{out_file}.{rank}")
    dist.destroy_process_group()


def test_two_processes_equal_one(tmp_path):
    world = 2
    mp.spawn(_worker, args=(world, str(tmp_path / "init"), str(tmp_path / "out")), nprocs=world, join=True)
    per_rank = [torch.load(tmp_path / f"out.{r}") for r in range(world)]
    image, text, scale = (t.requires_grad_() for t in batch(n=8))
    full = clip_loss(image, text, scale)
    full.backward()
    n = len(image) // world
    for m, mode in enumerate(MODES):
        losses = torch.stack([per_rank[r][m][0] for r in range(world)])
        torch.testing.assert_close(losses.mean(), full.detach(), msg=f"{mode}")
        for r in range(world):
            _, g_image, g_text, g_scale = per_rank[r][m]
            # DDP averages gradients over processes: each process's rows get P times their share
            torch.testing.assert_close(g_image / world, image.grad[r * n : (r + 1) * n], msg=f"{mode}")
            torch.testing.assert_close(g_text / world, text.grad[r * n : (r + 1) * n], msg=f"{mode}")
        scale_grads = torch.stack([per_rank[r][m][3] for r in range(world)])
        torch.testing.assert_close(scale_grads.mean(), scale.grad, msg=f"{mode}")
