"""Roboflow's blocks that cannot run on this machine, and why: their type names (prefixes)
so that a document using one is told why, not only that the type is unknown."""

from __future__ import annotations

_HOSTED_API = "calls {service}; visionflow runs offline and sends nothing off the machine"
_FOUNDATION = (
    "runs a large foundation model ({model}) that no package visionflow installs ships; "
    "map a local model with one of visionflow's model blocks instead"
)
_SINK = (
    "sends results to {service}; visionflow does not send data there (the outbound sinks "
    "an operator may enable are the webhook, e-mail, Slack, Twilio, dataset upload and S3 ones)"
)

NOT_LOCAL: dict[str, str] = {
    "roboflow_core/open_ai@": _HOSTED_API.format(service="OpenAI's hosted API"),
    "OpenAI": _HOSTED_API.format(service="OpenAI's hosted API"),
    "roboflow_core/openai_compatible@": _HOSTED_API.format(service="an OpenAI-compatible API"),
    "roboflow_core/anthropic_claude@": _HOSTED_API.format(service="Anthropic's hosted API"),
    "roboflow_core/google_gemini@": _HOSTED_API.format(service="Google's Gemini API"),
    "roboflow_core/google_vision_ocr@": _HOSTED_API.format(service="Google Cloud Vision"),
    "roboflow_core/openrouter@": _HOSTED_API.format(service="OpenRouter"),
    "roboflow_core/kimi_openrouter@": _HOSTED_API.format(service="OpenRouter"),
    "roboflow_core/qwen3_5_openrouter@": _HOSTED_API.format(service="OpenRouter"),
    "roboflow_core/qwen3_6_openrouter@": _HOSTED_API.format(service="OpenRouter"),
    "roboflow_core/stability_ai_": _HOSTED_API.format(service="Stability AI's hosted API"),
    "roboflow_core/lmm@": _HOSTED_API.format(service="a hosted language model"),
    "LMM": _HOSTED_API.format(service="a hosted language model"),
    "roboflow_core/lmm_for_classification@": _HOSTED_API.format(service="a hosted LMM"),
    "LMMForClassification": _HOSTED_API.format(service="a hosted LMM"),
    "roboflow_core/visual_search": _HOSTED_API.format(service="Roboflow's visual search"),
    "roboflow_core/cog_vlm@": _FOUNDATION.format(model="CogVLM"),
    "CogVLM": _FOUNDATION.format(model="CogVLM"),
    "roboflow_core/florence_2@": _FOUNDATION.format(model="Florence-2"),
    "roboflow_core/clip@": _FOUNDATION.format(model="CLIP"),
    "roboflow_core/clip_comparison@": _FOUNDATION.format(model="CLIP"),
    "ClipComparison": _FOUNDATION.format(model="CLIP"),
    "roboflow_core/segment_anything": _FOUNDATION.format(model="Segment Anything"),
    "roboflow_core/sam3": _FOUNDATION.format(model="Segment Anything 3"),
    "roboflow_core/yolo_world_model@": _FOUNDATION.format(model="YOLO-World"),
    "YoloWorldModel": _FOUNDATION.format(model="YOLO-World"),
    "YoloWorld": _FOUNDATION.format(model="YOLO-World"),
    "roboflow_core/depth_estimation@": _FOUNDATION.format(model="a depth estimator"),
    "roboflow_core/moondream2@": _FOUNDATION.format(model="Moondream 2"),
    "roboflow_core/qwen": _FOUNDATION.format(model="Qwen-VL"),
    "roboflow_core/smolvlm2@": _FOUNDATION.format(model="SmolVLM 2"),
    "roboflow_core/easy_ocr@": _FOUNDATION.format(model="EasyOCR"),
    "EasyOCR": _FOUNDATION.format(model="EasyOCR"),
    "roboflow_core/gaze@": _FOUNDATION.format(model="L2CS gaze"),
    "roboflow_core/perception_encoder@": _FOUNDATION.format(model="Perception Encoder"),
    "roboflow_core/onvif_sink@": _SINK.format(service="an ONVIF camera"),
    "roboflow_core/roboflow_custom_metadata@": _SINK.format(service="Roboflow's platform"),
    "RoboflowCustomMetadata": _SINK.format(service="Roboflow's platform"),
    "roboflow_core/model_monitoring_inference_aggregator@": _SINK.format(
        service="Roboflow's model monitoring"
    ),
    "roboflow_core/roboflow_vision_events@": _SINK.format(service="Roboflow's platform"),
    "roboflow_core/vision_event_bundle@": _SINK.format(service="Roboflow's platform"),
    "roboflow_core/asset_library_attributes@": _SINK.format(service="Roboflow's platform"),
}


def why_not_local(block_type: str) -> str | None:
    """Why Roboflow's block ``block_type`` cannot run here, or None if it is not one of
    those (an exact short name, or a ``roboflow_core/...`` prefix)."""
    for name, reason in NOT_LOCAL.items():
        matches = (
            block_type.startswith(name)
            if name.startswith("roboflow_core/")
            else (block_type == name)
        )
        if matches:
            return f"{block_type} is Roboflow's block that {reason}"
    return None
