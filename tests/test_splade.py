"""The SPLADE formula on the real SPLADE-tiny model, and the encoder's exactness."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from disco_pyserini.encode.splade import SpladeEncoder, splade_pool

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
    bound = 2e-5  # 3x the largest difference of all 351,351 CACM weights on AVX-512 (5.9e-6)
    for a, b in zip(one, two):
        x, y = dense(a), dense(b)
        assert np.abs(x - y).max() <= bound
        impacts_x, impacts_y = np.rint(x * np.float32(100)), np.rint(y * np.float32(100))
        assert np.abs(impacts_x - impacts_y).max() <= 1
        for position in np.flatnonzero(impacts_x != impacts_y):  # w * 100 within 100 * bound of an x.5
            scaled = float(x[position] * np.float32(100))
            assert abs(scaled - np.floor(scaled) - 0.5) <= 100 * bound, (position, x[position], y[position])


# -- one forward, two modes: pinned to the code each mode replaced -----------------------------------
def reference_training_weights(tokenizer, model, texts, max_length=256):
    """The training forward the distillation table of docs/distillation.md was measured with, literally (the
    nested ``encode`` of ``distill()`` at commit 37c265b, on CPU where autocast is off): a padded
    batch, the head over all its real tokens at once, the max per text, then log(1 + relu)."""
    inputs = tokenizer(list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    mask = inputs["attention_mask"]
    hidden = model.base_model(input_ids=inputs["input_ids"], attention_mask=mask)[0]
    logits = model.cls(hidden[mask.bool()]).float()  # [real tokens, V]
    ends = mask.sum(dim=1).cumsum(0).tolist()
    maxima = torch.stack([logits[start:end].amax(dim=0) for start, end in zip([0] + ends[:-1], ends)])
    return torch.log1p(torch.relu(maxima))


def reference_padded_max_logits(encoder, batch, token_chunk):
    """The padded inference path (GPUs) as it was at commit 37c265b, literally: the head on whole
    texts of at most ``token_chunk`` real tokens at a time, maxima written into one buffer."""
    input_ids, attention_mask = encoder._pad(batch)
    lengths = [len(ids) for ids in batch]
    hidden = encoder.model.base_model(input_ids=input_ids, attention_mask=attention_mask)[0]
    real = hidden[attention_mask.bool()]
    maxima = torch.empty((len(batch), len(encoder.vocabulary)), dtype=torch.float32)
    row = offset = 0
    while row < len(batch):
        end, tokens = row, 0
        while end < len(batch) and (end == row or tokens + lengths[end] <= token_chunk):
            tokens += lengths[end]
            end += 1
        logits = encoder.model.cls(real[offset:offset + tokens]).float()
        position = 0
        for text in range(row, end):
            maxima[text] = logits[position:position + lengths[text]].amax(dim=0)
            position += lengths[text]
        offset += tokens
        row = end
    return maxima


@pytest.mark.parametrize("train_mode", [False, True])
def test_the_trainable_forward_is_the_training_forward_bit_for_bit(tiny_model, train_mode):
    """Values and gradients, in eval mode and with dropout (same seed): distillation trains exactly as before."""
    encoder = SpladeEncoder(tiny_model, trainable=True)
    encoder.model.train(train_mode)
    texts = TEXTS[:5]
    results = []
    for forward in (lambda: encoder.forward(texts),
                    lambda: reference_training_weights(encoder.tokenizer, encoder.model, texts)):
        torch.manual_seed(3)
        encoder.model.zero_grad(set_to_none=True)
        weights = forward()
        (weights * torch.linspace(0.5, 1.5, weights.shape[1])).sum().backward()
        results.append((weights.detach(), {name: p.grad.clone() for name, p in encoder.model.named_parameters()
                                           if p.grad is not None}))
    (ours, our_grads), (reference, reference_grads) = results
    assert ours.shape == (5, 30522) and torch.equal(ours, reference)
    assert our_grads.keys() == reference_grads.keys() and len(our_grads) > 10
    assert all(torch.equal(our_grads[name], reference_grads[name]) for name in our_grads)


def test_a_frozen_encoder_keeps_no_gradients_and_a_trainable_one_does(tiny_model, tiny_encoder):
    assert not any(p.requires_grad for p in tiny_encoder.model.parameters())
    assert all(p.requires_grad for p in SpladeEncoder(tiny_model, trainable=True).model.parameters())


def test_the_padded_inference_path_is_the_one_it_replaced_bit_for_bit(tiny_model):
    encoder = SpladeEncoder(tiny_model, exact=False, token_chunk=64)
    batch = encoder.tokenize(TEXTS[:5])
    with torch.inference_mode():
        reference = reference_padded_max_logits(encoder, batch, 64)
    assert torch.equal(encoder.max_logits(batch), reference)


# -- the spec: what an artifact records rebuilds the encoder ------------------------------------------
def test_the_record_of_an_encoder_rebuilds_one_with_the_same_vectors(tiny_model):
    from disco_pyserini.encode.backends import build_encoder
    from disco_pyserini.encode.spec import EncoderSpec

    original = SpladeEncoder(tiny_model, max_length=12, batch_size=2, scale=50)
    record = json.loads(json.dumps(original.describe()))  # as an artifact keeps it
    rebuilt = build_encoder(EncoderSpec.from_params(record))
    assert rebuilt.spec == original.spec and rebuilt.describe() == record
    assert rebuilt.max_length == 12 and rebuilt.spec.scale == 50 and rebuilt.spec.precision == "float32"
    for a, b in zip(original.encode(TEXTS), rebuilt.encode(TEXTS)):
        assert np.array_equal(a.indices, b.indices) and np.array_equal(a.weights, b.weights)
    # max_length 12 truncates the long texts: not what the default spec encodes
    long = SpladeEncoder(tiny_model).encode([TEXTS[3]])[0]
    assert not np.array_equal(long.indices, rebuilt.encode([TEXTS[3]])[0].indices)
