from django.apps import AppConfig


class PartnerGrpcConfig(AppConfig):
    name = "partner_grpc"
