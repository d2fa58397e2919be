"""The edge of every Lambda function: event in, one logic call, response out."""

from skms.api.handler import endpoint

__all__ = ["endpoint"]
