"""The door unit: a daemon that watches one camera and tells Home Assistant over MQTT who is at
the door (``edgeface run``). It builds on the library (``edge``) and is never imported by it.

    config      the device config (firmware_configs/*.yaml), parsed once
    camera      frame sources: picamera2, USB/V4L2, RTSP/HTTP, files
    tracker     IoU tracks of faces across frames
    decide      K-of-N decisions per track (match / unknown), cooldowns
    pipeline    detect -> track -> align -> quality -> embed -> match -> liveness, per frame
    mqtt        the publisher: outbox delivery, state, availability (owns every payload it sends)
    discovery   Home Assistant discovery payloads
    doorpolicy  who may open when; door: the relay; commands: signed kill-switch commands
    daemon      the composition root: reads the config, builds and runs everything
"""
