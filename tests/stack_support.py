"""Helpers for tests against the shared local stack (tests/conftest.py): the S3-compatible bucket."""

from __future__ import annotations


def boto_args(s3: dict[str, str]) -> dict[str, str]:
    return dict(
        endpoint_url=s3["AWS_ENDPOINT_URL"],
        aws_access_key_id=s3["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3["AWS_SECRET_ACCESS_KEY"],
        region_name=s3["AWS_DEFAULT_REGION"],
    )


def bucket_keys(s3: dict[str, str], bucket: str, prefix: str) -> list[str]:
    import boto3

    listing = boto3.client("s3", **boto_args(s3)).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", ())]
