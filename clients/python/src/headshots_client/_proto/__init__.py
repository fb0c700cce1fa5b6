"""The partner API's generated stubs (headshots.partner.v1), copied from libs/common by `make proto`
(`headshots_tools.client_stubs`): do not edit."""
