"""Imported by every benchmark before it makes any AWS client: fake credentials and no
metadata lookup, so boto3 never reaches for the network, and no endpoint or profile from the
caller's shell leaks in."""

import os

os.environ.update(
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MANAGEMENT_API_ENDPOINT"):
    os.environ.pop(_name, None)
