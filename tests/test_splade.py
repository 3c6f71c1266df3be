"""The SPLADE formula on the real SPLADE-tiny model, and the encoder's exactness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disco_pyserini.splade import SpladeEncoder, splade_pool

TEXTS = [
    "What is throat cancer?",
    "Honeybees communicate the direction of flowers with a waggle dance on the comb.",
    "a",
    "The optimization of time-shared system performance requires the description of the stochastic "
    "processes governing the user inputs and the program activity. " * 6,
    "How far can an electric car go on one charge? [SEP] Most new models manage 300 to 500 kilometres.",
    "",
]


def literal_weights(encoder: SpladeEncoder, texts):
    """The reference formula on the full logits: max_t log(1 + relu(logits)) * mask."""
    batch = encoder.tokenize(texts)
    input_ids, attention_mask = encoder._pad(batch)
    with torch.inference_mode():
        logits = encoder.model(input_ids=input_ids, attention_mask=attention_mask).logits
    return splade_pool(logits, attention_mask)


def dense(vector, size=30522):
    out = np.zeros(size, dtype=np.float32)
    out[vector.indices] = vector.weights
    return out


def test_matches_the_literal_formula(tiny_encoder):
    reference = literal_weights(tiny_encoder, TEXTS).numpy()
    ours = np.stack([dense(v) for v in tiny_encoder.encode(TEXTS)])
    # the reference runs the texts padded together, so float noise of the order of 1e-6 is expected
    np.testing.assert_allclose(ours, reference, atol=2e-5)
    assert ((ours > 0) == (reference > 1e-6)).mean() > 0.9999


def test_each_text_alone_gives_the_literal_formula_exactly(tiny_encoder):
    for text in TEXTS:
        reference = literal_weights(tiny_encoder, [text])[0].numpy()
        (vector,) = tiny_encoder.encode([text])
        assert np.array_equal(dense(vector), reference)


def test_vectors_do_not_depend_on_batching(tiny_model):
    vectors = {}
    for batch_size in (1, 3, 32):
        encoder = SpladeEncoder(tiny_model, batch_size=batch_size, token_chunk=64 if batch_size == 3 else None)
        vectors[batch_size] = encoder.encode(TEXTS * 3)
    for one, three, many in zip(vectors[1], vectors[3], vectors[32]):
        assert np.array_equal(one.indices, many.indices) and np.array_equal(one.weights, many.weights)
        assert np.array_equal(one.indices, three.indices) and np.array_equal(one.weights, three.weights)


def test_vectors_are_sparse_positive_and_sorted(tiny_encoder):
    for vector in tiny_encoder.encode(TEXTS[:2]):
        assert 5 < len(vector.indices) < 1000
        assert (vector.weights > 0).all()
        assert (np.diff(vector.indices) > 0).all()


def test_weights_use_log1p(tiny_encoder):
    """Weights are log(1 + relu(max logit)), not the bare relu of the model card snippet."""
    (ids,) = tiny_encoder.tokenize([TEXTS[1]])
    maxima = tiny_encoder.max_logits([ids])[0]
    (vector,) = tiny_encoder.encode([TEXTS[1]])
    top = int(vector.indices[np.argmax(vector.weights)])
    assert vector.weights.max() == pytest.approx(float(torch.log1p(maxima[top])), rel=1e-6)
    assert vector.weights.max() < float(maxima[top])


def test_padded_path_agrees_within_float_noise(tiny_model):
    exact = SpladeEncoder(tiny_model, exact=True).encode(TEXTS)
    padded = SpladeEncoder(tiny_model, exact=False, batch_size=4).encode(TEXTS)
    for a, b in zip(exact, padded):
        np.testing.assert_allclose(dense(a), dense(b), atol=2e-5)


def encode_with_threads(encoder, texts, threads):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        return encoder.encode(texts)
    finally:
        torch.set_num_threads(before)


def test_the_same_thread_count_gives_the_same_floats(tiny_encoder):
    for threads in (1, 2):
        once, again = (encode_with_threads(tiny_encoder, TEXTS, threads) for _ in range(2))
        for a, b in zip(once, again):
            assert np.array_equal(a.indices, b.indices) and np.array_equal(a.weights, b.weights)


def test_thread_counts_change_floats_only_in_the_last_bits(tiny_encoder):
    """CPU kernels block their sums by thread count and instruction set: floats may differ in the
    last bits (seen on AVX-512), so an integer impact may differ only where w * scale sits on a
    rounding boundary. benchmarks/measure_determinism.py counts how often on all of CACM."""
    one, two = (encode_with_threads(tiny_encoder, TEXTS, threads) for threads in (1, 2))
    for a, b in zip(one, two):
        x, y = dense(a), dense(b)
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
        impacts_x, impacts_y = np.rint(x * np.float32(100)), np.rint(y * np.float32(100))
        for position in np.flatnonzero(impacts_x != impacts_y):
            scaled = float(x[position] * np.float32(100))
            assert abs(scaled - np.floor(scaled) - 0.5) < 1e-3, (position, x[position], y[position])
