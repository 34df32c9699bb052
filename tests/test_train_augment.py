"""Batch augmentation: shifts move audio (both code paths agree), noise lands at the drawn SNR."""

from __future__ import annotations

import pytest
import torch

from kws_edge.labels import SAMPLE_RATE, WINDOW_SAMPLES
from kws_edge.training.augment import AugmentConfig, BatchAugmenter

CPU = torch.device("cpu")


def test_cpu_shift_equals_gather_shift():
    x = torch.randn(16, WINDOW_SAMPLES)
    cfg = AugmentConfig(shift_ms=100.0)
    a = BatchAugmenter(cfg, None, CPU, seed=3)
    got = a.shift(x)
    b = BatchAugmenter(cfg, None, CPU, seed=3)
    max_shift = int(cfg.shift_ms * SAMPLE_RATE / 1000)
    shifts = (b._rand(16, 1) * (2 * max_shift + 1)).long() - max_shift
    src = torch.arange(WINDOW_SAMPLES).unsqueeze(0) - shifts
    ref = torch.gather(x, 1, src.clamp(0, WINDOW_SAMPLES - 1)) * ((src >= 0) & (src < WINDOW_SAMPLES))
    assert torch.equal(got, ref)
    assert shifts.abs().max() <= max_shift and shifts.abs().max() > 0


def test_noise_snr_within_range_and_reproducible():
    bank = torch.randn(8, WINDOW_SAMPLES) * 0.05
    cfg = AugmentConfig(shift_ms=0.0, gain_db=0.0, noise_prob=1.0, snr_low_db=10.0, snr_high_db=20.0)
    x = torch.sin(torch.linspace(0, 2000, WINDOW_SAMPLES)).repeat(32, 1) * 0.3
    out = BatchAugmenter(cfg, bank, CPU, seed=0)(x)
    noise = out - x
    snr = 10 * torch.log10(x.pow(2).mean(1) / noise.pow(2).mean(1))
    assert snr.min() >= 10.0 - 0.5 and snr.max() <= 20.0 + 0.5
    again = BatchAugmenter(cfg, bank, CPU, seed=0)(x)
    assert torch.equal(out, again)
    other = BatchAugmenter(cfg, bank, CPU, seed=1)(x)
    assert not torch.equal(out, other)


def test_without_recordings_a_synthetic_bank_is_used():
    a = BatchAugmenter(AugmentConfig(), None, CPU, seed=0)
    assert a.noise.shape[1] == WINDOW_SAMPLES and a.noise.shape[0] > 0
    out = a(torch.zeros(4, WINDOW_SAMPLES))
    assert torch.isfinite(out).all() and out.abs().max() <= 1.0


def test_cached_front_end_equals_the_model():
    from kws_edge.training.front_cache import FrontCache
    from kws_edge.training.model import build_m5

    torch.manual_seed(0)
    model = build_m5(["a", "b", "c"]).eval()
    x = torch.randn(12, WINDOW_SAMPLES) * 0.1
    idx = torch.arange(12)
    gain_only = AugmentConfig(shift_ms=0.0, noise_prob=0.0, gain_db=12.0)
    cache = FrontCache(model, x, None, gain_only, CPU, seed=0)
    with torch.no_grad():
        ref = model(x)
        plain = model.fc1(model.features_from_conv1(cache.batch(idx, augment=False)))
        gained = model.fc1(model.features_from_conv1(cache.batch(idx, augment=True)))
    assert torch.allclose(plain, ref, atol=1e-5)
    assert torch.allclose(gained, ref, atol=1e-5)  # the model's RMS norm undoes any gain


def test_cached_noise_mix_matches_mixing_the_waveform():
    from kws_edge.training.front_cache import FrontCache
    from kws_edge.training.model import build_m5

    torch.manual_seed(1)
    model = build_m5(["a", "b", "c"]).eval()
    x = torch.randn(6, WINDOW_SAMPLES) * 0.1
    bank = torch.randn(3, WINDOW_SAMPLES) * 0.05
    cfg = AugmentConfig(shift_ms=0.0, gain_db=0.0, noise_prob=1.0, snr_low_db=5.0, snr_high_db=5.0)
    cache = FrontCache(model, x, bank, cfg, CPU, seed=7)
    gen = torch.Generator().manual_seed(7)
    torch.rand(6, generator=gen)  # gain draw (0 dB)
    pick = (torch.rand(6, generator=gen) * 3).long()
    with torch.no_grad():
        cached = model.fc1(model.features_from_conv1(cache.batch(torch.arange(6), augment=True)))
        scale = x.pow(2).mean(1).sqrt() / bank[pick].pow(2).mean(1).sqrt() * 10 ** (-5 / 20)
        mixed = model(x + scale[:, None] * bank[pick])
    assert torch.allclose(cached, mixed, atol=0.02), (cached - mixed).abs().max()


def test_speed_change_scales_frequency_about_the_centre():
    from kws_edge.training.augment import change_speed

    t = torch.arange(WINDOW_SAMPLES, dtype=torch.float32) / SAMPLE_RATE
    tone = torch.sin(2 * torch.pi * 500.0 * t).repeat(3, 1)
    out = change_speed(tone, torch.tensor([1.0, 1.1, 0.9]))
    assert torch.equal(out[0], tone[0])
    for row, factor in ((1, 1.1), (2, 0.9)):
        peak = torch.fft.rfft(out[row]).abs().argmax().item() * SAMPLE_RATE / WINDOW_SAMPLES
        assert abs(peak - 500.0 * factor) <= 2.0, (factor, peak)
    mid = WINDOW_SAMPLES // 2
    assert torch.allclose(out[:, mid - 1:mid + 1], tone[:, mid - 1:mid + 1], atol=0.05)  # centre stays
    assert (out[1, :700] == 0).all() and (out[1, -700:] == 0).all()  # faster: the source runs out
    assert out[2, :100].abs().max() > 0.5 and out[2, -100:].abs().max() > 0.5  # slower: still full


def test_cached_speed_variants_equal_the_model_on_changed_audio():
    from kws_edge.training.augment import change_speed
    from kws_edge.training.front_cache import FrontCache
    from kws_edge.training.model import build_m5

    torch.manual_seed(2)
    model = build_m5(["a", "b", "c"]).eval()
    x = torch.randn(5, WINDOW_SAMPLES) * 0.1
    cfg = AugmentConfig(shift_ms=0.0, noise_prob=0.0, gain_db=0.0, speed=0.1)
    cache = FrontCache(model, x, None, cfg, CPU, seed=4)
    assert len(cache.factors) > 2 and min(cache.factors) == 0.9 and 1.0 in cache.factors
    idx = torch.arange(5)
    with torch.no_grad():
        plain = model.fc1(model.features_from_conv1(cache.batch(idx, augment=False)))
        assert torch.allclose(plain, model(x), atol=1e-5)  # no augmentation: the clips as recorded
        gen = torch.Generator().manual_seed(4)
        variant = (torch.rand(5, generator=gen) * len(cache.factors)).long()
        factors = torch.tensor([cache.factors[v] for v in variant])
        sped = model.fc1(model.features_from_conv1(cache.batch(idx, augment=True)))
        assert torch.allclose(sped, model(change_speed(x, factors)), atol=1e-4)


def test_cached_speeds_shrink_when_the_cache_would_be_too_big():
    from kws_edge.training.front_cache import SPEED_CACHE_BYTES, _copy_speeds

    speed = AugmentConfig(speed=0.1)
    assert _copy_speeds(speed, 1000) == pytest.approx([0.9, 0.95, 1.0, 1.05, 1.1])
    assert _copy_speeds(speed, SPEED_CACHE_BYTES // 4) == pytest.approx([0.9, 1.0, 1.1])
    assert _copy_speeds(speed, SPEED_CACHE_BYTES) == [1.0]
    assert _copy_speeds(AugmentConfig(), 1000) == [1.0]
    assert _copy_speeds(AugmentConfig(room_prob=0.5), 1000) == [1.0] * 5  # copies for the rooms


def test_room_filters_colour_chosen_rows_and_keep_their_level():
    from kws_edge.training.augment import apply_room, room_filters

    filters = room_filters(16, WINDOW_SAMPLES, seed=5)
    assert torch.equal(filters, room_filters(16, WINDOW_SAMPLES, seed=5))
    assert not torch.equal(filters, room_filters(16, WINDOW_SAMPLES, seed=6))
    x = torch.randn(6, WINDOW_SAMPLES) * torch.linspace(0.05, 0.3, 6)[:, None]
    use = torch.tensor([True, False, True, False, True, True])
    out = apply_room(x, filters, torch.arange(6), use)
    assert torch.equal(out[~use], x[~use])
    assert torch.allclose(out.pow(2).mean(1).sqrt(), x.pow(2).mean(1).sqrt(), rtol=1e-4)
    # White noise through a room and microphone is no longer white: its spectrum is shaped.
    changed = (out[use] - x[use]).pow(2).mean(1) / x[use].pow(2).mean(1)
    assert changed.min() > 0.05


def test_room_augmentation_on_waveforms_and_on_cached_fronts():
    from kws_edge.training.front_cache import FrontCache
    from kws_edge.training.model import build_m5

    x = torch.randn(8, WINDOW_SAMPLES) * 0.1
    cfg = AugmentConfig(shift_ms=0.0, noise_prob=0.0, gain_db=0.0, room_prob=1.0)
    out = BatchAugmenter(cfg, None, CPU, seed=1)(x)
    assert not torch.allclose(out, x, atol=1e-3)
    assert torch.allclose(out.pow(2).mean(1), x.pow(2).mean(1), rtol=1e-3)
    assert torch.equal(BatchAugmenter(AugmentConfig(shift_ms=0.0, noise_prob=0.0, gain_db=0.0), None, CPU,
                                      seed=1)(x), x.clamp(-1, 1))

    torch.manual_seed(2)
    model = build_m5(["a", "b", "c"]).eval()
    rooms = AugmentConfig(shift_ms=0.0, noise_prob=0.0, gain_db=0.0, room_prob=0.8)
    cache = FrontCache(model, x, None, rooms, CPU, seed=4)
    assert cache.factors == [1.0] * 5
    # One copy in five stays as recorded, so 0.8 colours every other copy of every clip.
    copies = cache.z.reshape(5, 8, *cache.z.shape[1:])
    for k in (0, 1, 3, 4):
        assert ((copies[k] - copies[2]).abs().amax(dim=(1, 2)) > 1e-3).all()
    idx = torch.arange(8)
    with torch.no_grad():
        plain = model.fc1(model.features_from_conv1(cache.batch(idx, augment=False)))
        assert torch.allclose(plain, model(x), atol=1e-5)  # the middle copy is the clips as recorded
        roomy = torch.stack([cache.batch(idx, augment=True) for _ in range(4)])
    assert not torch.allclose(roomy, cache.batch(idx, augment=False).expand_as(roomy), atol=1e-3)
