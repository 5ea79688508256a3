"""benchmarks/spectrum.py: power by frequency, its ratio to real takes', and the low-pass's response."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("spectrum", REPO / "benchmarks" / "spectrum.py")
spectrum = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(spectrum)

FPS = 30.0


def _sine(hz, frames=240, amplitude=1.0, phase=0.0):
    return amplitude * np.sin(2 * np.pi * hz * np.arange(frames) / FPS + phase)[:, None]


def test_a_sine_puts_its_power_at_its_frequency():
    power, freqs = spectrum.power_spectra([_sine(3.0), _sine(3.0, phase=1.0)], FPS)
    assert freqs[1] == pytest.approx(0.5)  # 2-second pieces
    assert freqs[np.argmax(power[:, 0])] == pytest.approx(3.0)
    assert power[np.abs(freqs - 3.0) > 1.0, 0].max() < 1e-3 * power[:, 0].max()


def test_ratio_is_per_channel_and_ignores_channels_still_in_real_takes():
    real = np.concatenate([_sine(2.0), _sine(5.0, amplitude=0.1), np.zeros((240, 1))], axis=1)
    gen = np.concatenate([_sine(2.0, amplitude=2.0), _sine(5.0, amplitude=0.2), _sine(5.0)], axis=1)
    p_real, freqs = spectrum.power_spectra([real], FPS)
    p_gen, _ = spectrum.power_spectra([gen], FPS)
    ratio = spectrum.median_ratio(p_gen, p_real)
    assert ratio[freqs == 2.0][0] == pytest.approx(4.0, rel=1e-6)  # twice the amplitude: four times the power
    assert ratio[freqs == 5.0][0] == pytest.approx(4.0, rel=1e-6)  # the still channel does not count


def test_lowpass_response_matches_filtering_a_sine():
    from blender_ganim.core import synthesis
    sigma = 1.75
    response = spectrum.gaussian_power(sigma, [0.0, 2.0, 4.0], FPS)
    assert response[0] == pytest.approx(1.0)
    x = _sine(4.0, frames=600)
    k = synthesis.gaussian_kernel(sigma)
    y = np.convolve(x[:, 0], k, mode="same")[50:-50]
    assert (y ** 2).mean() / (x[50:-50, 0] ** 2).mean() == pytest.approx(response[2], rel=0.02)
    assert response[1] > response[2]


def test_too_short_clips_are_an_error():
    with pytest.raises(ValueError, match="60 frames"):
        spectrum.power_spectra([np.zeros((30, 2))], FPS)
