"""MQTT adapter: the service's link to a broker, and the embedded broker used when none is set."""

from app.mqtt.broker import EmbeddedBroker
from app.mqtt.link import BrokerAddress, MqttLink

__all__ = ["BrokerAddress", "EmbeddedBroker", "MqttLink"]
