"""Tiny random models that the heavy-engine tests build and save themselves.

Each is a real transformers checkpoint of the right family (config, weights,
tokenizer files) with a few thousand random weights, so the engines' real
loading and inference code runs in well under a second, offline. The output is
gibberish by design: tests assert on plumbing (shapes, codes, batching), never words.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

SENTENCES = [
    "hello world this is a test", "the quick brown fox jumps over the lazy dog",
    "good morning. how are you today?", "hola mundo esto es una prueba",
    "el rapido zorro marron salta sobre el perro", "bom dia como vai voce",
] * 4

ENV_VARS = ("DUBBING_MODELS_DIR", "DUBBING_ALLOW_DOWNLOAD", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
            "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "HF_TOKEN_PATH", "DUBBING_DEVICE")


def isolate(monkeypatch: pytest.MonkeyPatch, tmp: Path, models: Path | None = None) -> Path:
    """No real models, tokens or hub: an empty HF cache under `tmp`, and DUBBING_MODELS_DIR set to
    `models` (default: an empty folder under `tmp`)."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp / "hf-cache"))
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp / "no-token"))
    monkeypatch.setenv("DUBBING_DEVICE", "cpu")
    models = models or tmp / "models"
    models.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("DUBBING_MODELS_DIR", str(models))
    return models


def _transformers():
    from dubbing.engines.resolve import prepare_transformers
    prepare_transformers()
    import transformers
    transformers.logging.set_verbosity_error()
    return transformers


def sentencepiece_model(folder: Path) -> tuple[Path, dict[str, int]]:
    """A ~50-piece SentencePiece model and a vocab (<s> <pad> </s> <unk> first, as fairseq models have)."""
    import sentencepiece as spm
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SENTENCES), model_writer=buf, vocab_size=60,
                                   model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
                                   pad_id=0, unk_id=1, eos_id=2, bos_id=-1, minloglevel=2)
    path = folder / "sp.model"
    path.write_bytes(buf.getvalue())
    sp = spm.SentencePieceProcessor(model_file=str(path))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    return path, vocab


_TINY = dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
             decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64)


def nllb(folder: Path) -> Path:
    tf = _transformers()
    _, vocab = sentencepiece_model(folder.parent / f".{folder.name}-spm")
    tok = tf.NllbTokenizer(vocab=vocab, merges=[])
    tok.save_pretrained(folder)
    cfg = tf.M2M100Config(vocab_size=len(tok), pad_token_id=1, bos_token_id=0, eos_token_id=2,
                          decoder_start_token_id=2, **_TINY)
    tf.M2M100ForConditionalGeneration(cfg).save_pretrained(folder)
    return folder


def m2m100(folder: Path) -> Path:
    tf = _transformers()
    spm_path, vocab = sentencepiece_model(folder.parent / f".{folder.name}-spm")
    vocab_file = spm_path.parent / "vocab.json"
    vocab_file.write_text(json.dumps(vocab))
    tok = tf.M2M100Tokenizer(str(vocab_file), str(spm_path))
    tok.save_pretrained(folder)
    # Language tokens sit after the vocabulary, then 8 "madeup words", as in the real checkpoints.
    size = tok.encoder_size + len(tok.lang_code_to_id) + 8
    cfg = tf.M2M100Config(vocab_size=size, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                          decoder_start_token_id=2, **_TINY)
    tf.M2M100ForConditionalGeneration(cfg).save_pretrained(folder)
    return folder


def marian(folder: Path, target_tokens: tuple[str, ...] = ()) -> Path:
    """A tiny MarianMT; with `target_tokens` it is a multi-target model that wants `>>xx<<` first."""
    tf = _transformers()
    spm_path, vocab = sentencepiece_model(folder.parent / f".{folder.name}-spm")
    for code in target_tokens:
        vocab[f">>{code}<<"] = len(vocab)
    vocab_file = spm_path.parent / "vocab.json"
    vocab_file.write_text(json.dumps(vocab))
    tok = tf.MarianTokenizer(str(spm_path), str(spm_path), str(vocab_file))
    tok.save_pretrained(folder)
    cfg = tf.MarianConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                          decoder_start_token_id=tok.pad_token_id, forced_eos_token_id=tok.eos_token_id, **_TINY)
    tf.MarianMTModel(cfg).save_pretrained(folder)
    return folder


VITS_CHARS = list(" abcdefghijklmnopqrstuvwxyzáéíóúñç'.,?!-")


def vits(folder: Path, *, sampling_rate: int = 16000, uroman: bool = False) -> Path:
    """A tiny MMS-style VitsModel with a character vocabulary."""
    tf = _transformers()
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(["<pad>", *VITS_CHARS, "<unk>"])}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    tok = tf.VitsTokenizer(str(folder / "vocab.json"), pad_token="<pad>", unk_token="<unk>", add_blank=True,
                           normalize=True, phonemize=False, is_uroman=uroman)
    tok.save_pretrained(folder)
    cfg = tf.VitsConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=16,
        flow_size=16, spectrogram_bins=17, upsample_initial_channel=16, upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]],
        duration_predictor_filter_channels=16, prior_encoder_num_flows=1, prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1, duration_predictor_num_flows=1, depth_separable_num_layers=1,
        sampling_rate=sampling_rate)
    tf.VitsModel(cfg).save_pretrained(folder)
    return folder


def gender_classifier(folder: Path, labels: tuple[str, ...] = ("female", "male")) -> Path:
    """A tiny wav2vec2 audio classifier whose labels are genders, with its feature extractor."""
    tf = _transformers()
    cfg = tf.Wav2Vec2Config(
        vocab_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
        conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2, classifier_proj_size=8, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    tf.Wav2Vec2ForSequenceClassification(cfg).save_pretrained(folder)
    tf.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=True).save_pretrained(folder)
    return folder


def into_hf_cache(cache: Path, repo_id: str, source: Path) -> Path:
    """Lay a model folder out as the hub cache does (models--org--name/snapshots/<rev>, refs/main)."""
    import shutil
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / "0123abcd"
    shutil.copytree(source, snap)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text("0123abcd")
    return snap


def whisper(folder: Path) -> Path:
    """A tiny multilingual Whisper: byte-level vocabulary, the real special and timestamp tokens in
    Whisper's order, and a generation config with language/task ids and alignment heads."""
    tf = _transformers()
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    from transformers.models.whisper.tokenization_whisper import LANGUAGES
    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    langs = list(LANGUAGES)[:99]
    specials = (["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{code}|>" for code in langs]
                + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                   "<|notimestamps|>"])
    for s in specials:
        vocab[s] = len(vocab)
    for i in range(1501):  # timestamps follow <|notimestamps|> directly, as the logits processor assumes
        vocab[f"<|{i * 0.02:.2f}|>"] = len(vocab)
    tok = tf.WhisperTokenizer(vocab=vocab, merges=[])
    tok.add_special_tokens({"additional_special_tokens": [tf.AddedToken(s, special=True) for s in specials]})
    tf.WhisperProcessor(feature_extractor=tf.WhisperFeatureExtractor(feature_size=80), tokenizer=tok).save_pretrained(folder)
    ids = tok.convert_tokens_to_ids
    eot, sot = ids("<|endoftext|>"), ids("<|startoftranscript|>")
    cfg = tf.WhisperConfig(vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                           decoder_ffn_dim=32, num_mel_bins=80, max_target_positions=48, max_source_positions=1500,
                           pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot)
    model = tf.WhisperForConditionalGeneration(cfg)
    model.generation_config = tf.GenerationConfig(
        decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, max_length=48,
        lang_to_id={f"<|{code}|>": ids(f"<|{code}|>") for code in langs},
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"), prev_sot_token_id=ids("<|startofprev|>"),
        is_multilingual=True, max_initial_timestamp_index=50, alignment_heads=[[0, 0], [0, 1]],
        begin_suppress_tokens=[eot], suppress_tokens=[])
    model.save_pretrained(folder)
    return folder
