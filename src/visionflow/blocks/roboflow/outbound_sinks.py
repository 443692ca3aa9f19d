"""Roboflow's sinks that send data off the machine (issue 12): webhook, e-mail (v1, v2),
Slack, Twilio SMS (v1, v2), Roboflow's dataset upload (v1, v2) and S3. Each is refused
at compile time unless the operator sets ``VISIONFLOW_ALLOW_OUTBOUND_SINKS=1``
(``outbound.py``); the blocks live by service in ``outbound_http.py`` (webhook,
Slack), ``outbound_email.py``, ``outbound_twilio.py``, ``outbound_roboflow.py`` and
``outbound_s3.py`` (on boto3, the ``sinks`` extra)."""

from __future__ import annotations

from visionflow.blocks.api import Block
from visionflow.blocks.roboflow.outbound_email import EmailNotification, EmailNotificationV2
from visionflow.blocks.roboflow.outbound_http import SlackNotification, WebhookSink
from visionflow.blocks.roboflow.outbound_roboflow import (
    RoboflowDatasetUpload,
    RoboflowDatasetUploadV2,
)
from visionflow.blocks.roboflow.outbound_s3 import S3Sink
from visionflow.blocks.roboflow.outbound_twilio import (
    TwilioSMSNotification,
    TwilioSMSNotificationV2,
)

BLOCKS: list[type[Block]] = [
    WebhookSink,
    EmailNotification,
    EmailNotificationV2,
    SlackNotification,
    TwilioSMSNotification,
    TwilioSMSNotificationV2,
    RoboflowDatasetUpload,
    RoboflowDatasetUploadV2,
    S3Sink,
]
