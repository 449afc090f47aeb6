"""What exists in the (mocked) account, in a form two runs can be compared by.

`whole_stack()` covers the whole stack; tests of a few stages compare the part they own.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError


def whole_stack() -> dict[str, Any]:
    api_ids = {api["ApiId"]: "<api>" for api in boto3.client("apigatewayv2").get_apis()["Items"]}
    return _replace_ids({**backbone(), **stages_5_to_7()}, api_ids)


def backbone() -> dict[str, Any]:
    """Guide steps 1-4: tables, functions, permissions, log groups, APIs, roles."""
    apigw = boto3.client("apigatewayv2")
    apis = apigw.get_apis()["Items"]
    lambda_ = boto3.client("lambda")
    functions = {
        f["FunctionName"]: (f["CodeSha256"], f["MemorySize"], f["Role"])
        for f in lambda_.list_functions()["Functions"]
    }
    iam = boto3.client("iam")
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    return {
        "tables": sorted(boto3.client("dynamodb").list_tables()["TableNames"]),
        "functions": functions,
        "permissions": {
            name: len(json.loads(lambda_.get_policy(FunctionName=name)["Policy"])["Statement"])
            for name in functions
        },
        "log_groups": sorted(
            g["logGroupName"] for g in boto3.client("logs").describe_log_groups()["logGroups"]
        ),
        "apis": [
            (
                api["Name"],
                sorted(r["RouteKey"] for r in apigw.get_routes(ApiId=api["ApiId"])["Items"]),
                len(apigw.get_integrations(ApiId=api["ApiId"])["Items"]),
                [s["StageName"] for s in apigw.get_stages(ApiId=api["ApiId"])["Items"]],
            )
            for api in apis
        ],
        "roles": {
            role: sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]) for role in roles
        },
    }


def stages_5_to_7() -> dict[str, Any]:
    """Guide steps 5-7, with generated ids replaced by what they stand for once their
    consistency is checked, so two runs compare equal."""
    pools = _user_pools()
    distributions = _distributions()
    ids = {pool["id"]: "<user pool>" for pool in pools}
    ids.update({c: "<app client>" for pool in pools for c in pool.pop("client_ids")})
    ids.update({i: "<identity pool>" for i in _identity_pool_ids()})
    ids.update({d.pop("arn"): "<distribution>" for d in distributions})
    for pool in pools:
        del pool["id"]
    found = {
        "user_pools": pools,
        "identity_pools": _identity_pools(),
        "buckets": _buckets(),
        "origin_access_controls": _origin_access_controls(),
        "distributions": distributions,
    }
    return _replace_ids(found, ids)


def _user_pools() -> list[dict[str, Any]]:
    idp = boto3.client("cognito-idp")
    pools = []
    for summary in idp.list_user_pools(MaxResults=60)["UserPools"]:
        pool = idp.describe_user_pool(UserPoolId=summary["Id"])["UserPool"]
        clients = idp.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=60)
        client_ids = [c["ClientId"] for c in clients["UserPoolClients"]]
        described = [
            idp.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=c)["UserPoolClient"]
            for c in client_ids
        ]
        pools.append(
            {
                "id": pool["Id"],
                "client_ids": client_ids,
                "name": pool["Name"],
                "tags": pool.get("UserPoolTags"),
                "password_policy": pool["Policies"]["PasswordPolicy"],
                "username": pool.get("UsernameAttributes"),
                "deletion_protection": pool.get("DeletionProtection"),
                "clients": [
                    {
                        "name": c["ClientName"],
                        "secret": "ClientSecret" in c,
                        "flows": sorted(c["ExplicitAuthFlows"]),
                        "id_token_minutes": c["IdTokenValidity"],
                    }
                    for c in described
                ],
            }
        )
    return pools


def _identity_pool_ids() -> list[str]:
    identity = boto3.client("cognito-identity")
    return [
        p["IdentityPoolId"] for p in identity.list_identity_pools(MaxResults=60)["IdentityPools"]
    ]


def _identity_pools() -> list[dict[str, Any]]:
    identity = boto3.client("cognito-identity")
    pools = []
    for pool_id in _identity_pool_ids():
        pool = identity.describe_identity_pool(IdentityPoolId=pool_id)
        pool.pop("ResponseMetadata")
        pools.append(pool)
    return pools


def _buckets() -> dict[str, Any]:
    s3 = boto3.client("s3")
    buckets = {}
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        objects = {}
        for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
            head = s3.get_object(Bucket=name, Key=item["Key"])
            body = head["Body"].read()
            content = json.loads(body) if item["Key"] == "config.json" else len(body)
            objects[item["Key"]] = (content, head["ContentType"], head.get("CacheControl"))
        buckets[name] = {
            "objects": objects,
            "tags": _setting(s3, "get_bucket_tagging", name, "TagSet"),
            "block": _setting(
                s3, "get_public_access_block", name, "PublicAccessBlockConfiguration"
            ),
            "policy": _setting(s3, "get_bucket_policy", name, "Policy"),
            "website": _setting(s3, "get_bucket_website", name, "IndexDocument"),
        }
    return buckets


def _setting(s3: Any, operation: str, bucket: str, field_name: str) -> Any:
    """One of a bucket's settings; None where S3 answers NoSuch<setting>."""
    try:
        value = getattr(s3, operation)(Bucket=bucket)[field_name]
    except ClientError as error:
        if error.response["Error"]["Code"].startswith("NoSuch"):
            return None
        raise
    return json.loads(value) if field_name == "Policy" else value


def _origin_access_controls() -> list[dict[str, Any]]:
    cloudfront = boto3.client("cloudfront")
    controls = cloudfront.list_origin_access_controls()["OriginAccessControlList"]
    return [
        {key: value for key, value in item.items() if key != "Id"}
        for item in controls.get("Items", [])
    ]


def _distributions() -> list[dict[str, Any]]:
    cloudfront = boto3.client("cloudfront")
    found = []
    for summary in cloudfront.list_distributions()["DistributionList"].get("Items", []):
        config = cloudfront.get_distribution_config(Id=summary["Id"])["DistributionConfig"]
        tags = cloudfront.list_tags_for_resource(Resource=summary["ARN"])["Tags"]["Items"]
        found.append(
            {
                "arn": summary["ARN"],
                "tags": tags,
                "comment": config["Comment"],
                "enabled": config["Enabled"],
                "price_class": config["PriceClass"],
                "origins": [o["DomainName"] for o in config["Origins"]["Items"]],
                "root": config["DefaultRootObject"],
            }
        )
    return found


def _replace_ids(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _replace_ids(item, ids) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_replace_ids(item, ids) for item in value)
    if isinstance(value, str):
        for real, placeholder in ids.items():
            value = value.replace(real, placeholder)
    return value
