"""The starting list of free-mail and hosting domains, the strength of each identifier kind and
the matching policy's row. Leads edit all three in the admin afterwards; every staff role views
them and the links marked false positive (core.roles)."""

from core.migration_grants import role_grants
from django.db import migrations

NEW_MODELS = ("commondomain", "identifierkindsetting", "evasionpolicy", "accountlinkdismissal")

COMMON_DOMAINS = [
    # Free mail
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.co.jp",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "mail.ru",
    "yandex.ru",
    "yandex.com",
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "naver.com",
    "daum.net",
    "zoho.com",
    "fastmail.com",
    "tutanota.com",
    "tuta.io",
    "hey.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "t-online.de",
    "seznam.cz",
    "rediffmail.com",
    "duck.com",
    # Hosting and developer platforms whose customers share one registrable domain
    "amazonaws.com",
    "cloudfront.net",
    "azurewebsites.net",
    "cloudapp.net",
    "herokuapp.com",
    "vercel.app",
    "netlify.app",
    "pages.dev",
    "workers.dev",
    "github.com",
    "gitlab.com",
    "googleusercontent.com",
    "appspot.com",
    "firebaseapp.com",
    "web.app",
    "onmicrosoft.com",
]

STRENGTHS = {
    "payment_fingerprint": "strong",
    "org_registration": "strong",
    "api_key_fingerprint": "strong",
    "org_domain": "strong",
    "email_domain": "weak",
    "ip_prefix": "weak",
    "billing_address": "weak",
}


def seed(apps, schema_editor):
    CommonDomain = apps.get_model("accounts", "CommonDomain")
    IdentifierKindSetting = apps.get_model("accounts", "IdentifierKindSetting")
    EvasionPolicy = apps.get_model("accounts", "EvasionPolicy")
    CommonDomain.objects.bulk_create(
        [CommonDomain(domain=d, note="starting list") for d in COMMON_DOMAINS],
        ignore_conflicts=True,
    )
    IdentifierKindSetting.objects.bulk_create(
        [IdentifierKindSetting(kind=k, strength=s) for k, s in STRENGTHS.items()],
        ignore_conflicts=True,
    )
    EvasionPolicy.objects.get_or_create(pk=1, defaults={"weak_kinds_required": 2})


grant = role_grants(
    ["accounts"],
    lambda app, codename: app == "accounts" and codename.split("_", 1)[1] in NEW_MODELS,
)


class Migration(migrations.Migration):
    # The role groups are made by cases 0002.
    dependencies = [("accounts", "0008_account_identifiers"), ("cases", "0002_roles_and_defaults")]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
