"""`codefill serve` from its parsed command line: API keys, limits, the engine (speculative decoding, engine
arguments, LoRA adapters), the app, and uvicorn with the connection guards."""

from __future__ import annotations

import argparse
import logging

from codefill.server.limits import Limits


def _api_keys(args: argparse.Namespace) -> tuple[str, ...]:
    from codefill.server.auth import collect_api_keys

    return collect_api_keys(args.api_key, args.api_key_file)


def limits_from(args: argparse.Namespace) -> Limits:
    return Limits(
        max_body_bytes=args.max_body_bytes,
        max_request_chars=args.max_request_chars,
        max_queued_prompts=args.max_queued_prompts,
        max_prompt_tokens=args.max_prompt_tokens,
        max_tokens=args.max_tokens_limit,
        max_n=args.max_n,
        max_concurrent_per_key=args.max_concurrent_per_key,
    )


def _connection_limits_from(args: argparse.Namespace):
    from codefill.server.connections import ConnectionLimits

    return ConnectionLimits(
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        keep_alive_s=args.keep_alive_timeout,
        max_per_client=args.max_connections_per_client,
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from codefill.model.engines import create_engine
    from codefill.model.weights.resolve import resolve_model
    from codefill.server.app import build_app
    from codefill.server.connections import guarded_protocol
    from codefill.server.state import ServerConfig, ServingState

    log = logging.getLogger("codefill")
    api_keys = _api_keys(args)  # before the model: a bad key file should fail at once, not after a conversion
    resolved = resolve_model(args.model, progress=True)
    served = args.served_model_name or resolved.served_name
    log.info("model %s (%s) served as %r", resolved.path_or_id, resolved.source, served)
    engine_options = dict(max_model_len=args.max_model_len, dtype=args.dtype)
    if args.engine != "hf":
        engine_options.update(
            tensor_parallel_size=args.tensor_parallel_size,
            gpu_memory_utilization=args.gpu_memory_utilization,
            max_num_seqs=args.max_num_seqs,
            speculative=_speculative(args),
            extra_engine_args=_engine_args(args),
            scheduling_policy="priority" if args.priorities == "on" else None,
        )
    loras = _loras(args, resolved.path_or_id, served)
    if loras:
        engine_options["loras"] = loras
        if args.engine != "hf":
            engine_options.update(max_lora_rank=args.max_lora_rank, max_loras=args.max_loras)

    def new_engine():  # also how --restart-on-failure replaces a dead engine: the same configuration
        return create_engine(args.engine, resolved.path_or_id, **engine_options)

    engine = new_engine()
    config = ServerConfig(
        served_model_name=served,
        model_path=resolved.path_or_id,
        fim_template=args.fim_template,
        next_edit_format=args.next_edit_format,
        fim_fallback=args.fim_fallback,
        default_temperature=args.default_temperature,
        fim_max_time_ms=args.fim_max_time_ms,
        api_keys=api_keys,
        limits=limits_from(args),
        restart_on_failure=args.restart_on_failure,
        priorities=args.priorities == "on",
        max_running=args.max_running,
        loras={a.name: a.path for a in loras},
    )
    if args.fim_template:
        from codefill.model.templates.fim import get_fim_template

        get_fim_template(args.fim_template)  # fail now, not at the first request
    state = ServingState(config, engine, engine_factory=new_engine)
    app = build_app(state)
    # The count, never the keys.
    log.info("API keys: %s", f"{len(api_keys)} configured; every endpoint but /health needs one"
             if api_keys else "none (the API is open; see --api-key-file)")
    log.info("listening on http://%s:%d (engine %s)", args.host, args.port, engine.name)
    connection_limits = _connection_limits_from(args)
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=False,
        # uvicorn's protocol, plus header/body read timeouts and a per-client connection cap.
        http=guarded_protocol(connection_limits, state.metrics),
        timeout_keep_alive=connection_limits.keep_alive_s,
    )
    return 0


def _speculative(args: argparse.Namespace):
    from codefill.model.engines.speculative import Speculative, SpeculativeError

    try:
        return Speculative(args.speculative, args.speculative_tokens, args.prompt_lookup_min,
                           args.prompt_lookup_max, args.draft_model, args.long_match_tokens)
    except SpeculativeError as exc:
        raise SystemExit(f"codefill serve: error: {exc}") from None


def _engine_args(args: argparse.Namespace) -> dict:
    from codefill.model.engines.engine_args import EngineArgsError, engine_args

    try:
        return engine_args(file=args.engine_args_file, pairs=args.engine_arg or (),
                           pipeline_parallel_size=args.pipeline_parallel_size,
                           data_parallel_size=args.data_parallel_size,
                           distributed_executor_backend=args.distributed_executor_backend)
    except EngineArgsError as exc:
        raise SystemExit(f"codefill serve: error: {exc}") from None


def _loras(args: argparse.Namespace, model_path: str, served: str) -> list:
    from codefill.model.engines.lora import load_adapters, max_lora_rank

    log = logging.getLogger("codefill")
    adapters = load_adapters(args.lora or (), model_path, reserved_names=(served,))
    if adapters and args.engine != "hf":
        max_lora_rank(adapters, args.max_lora_rank)  # a rank vLLM cannot take fails here, not after loading
    for a in adapters:
        log.info("LoRA adapter %r: %s (rank %d)", a.name, a.path, a.rank)
    return adapters
