"""The `alarms` stack: the environment's one alarm topic per region and its subscribers (e-mail,
HTTPS, AWS Chatbot), built only when `[alarms]` names subscribers.
"""
