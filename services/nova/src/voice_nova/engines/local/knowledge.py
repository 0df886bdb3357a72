"""What the Virtual Cloud Assistant knows: topics, the words that point to them, and answers.

Each topic has answers in order of depth: the first for a question, the next ones for "tell me
more". Every answer opens with a short sentence, because the first sentence is synthesized before
anything is heard and its length is the latency the user feels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Topic:
    name: str
    #: Spoken name, as in "That's all I have on {title}".
    title: str
    #: Regular expressions over the normalized question (lowercase, no punctuation but ').
    cues: tuple[str, ...]
    answers: tuple[str, ...]
    #: The answer to a question about this topic's cost, when there is one.
    price: str = ""
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple(re.compile(rf"\b(?:{cue})\b") for cue in self.cues))

    def score(self, question: str) -> int:
        return sum(1 for pattern in self._patterns if pattern.search(question))


TOPICS: tuple[Topic, ...] = (
    Topic(
        name="storage",
        title="cloud storage",
        cues=(
            r"stor(?:e|es|ed|ing|age)",
            r"buckets?",
            r"object storage",
            r"files?",
            r"backups?",
            r"archiv\w*",
            r"disks?",
            r"s3",
        ),
        answers=(
            "Cloud storage keeps your data online. Object storage holds files in buckets, and block "
            "storage gives disks to virtual machines, with copies kept on several devices.",
            "Here is more on storage. Pick a storage class by how often you read the data: a standard "
            "tier for hot data, an infrequent access tier for monthly reads, and an archive tier for "
            "backups you rarely touch. Lifecycle rules move objects between tiers for you.",
            "One more thing on storage. Turn on versioning to recover from mistakes, block public "
            "access unless you really need it, and replicate buckets to a second region for disaster "
            "recovery.",
        ),
        price="Storage is billed per gigabyte per month. Archive tiers cost much less but charge "
        "for retrieval.",
    ),
    Topic(
        name="compute",
        title="compute",
        cues=(
            r"comput\w*",
            r"virtual machines?",
            r"vms?",
            r"servers?",
            r"instances?",
            r"containers?",
            r"kubernetes",
            r"serverless",
            r"functions?",
            r"lambda",
            r"cpus?",
            r"processors?",
            r"auto ?scal\w*",
        ),
        answers=(
            "Cloud compute runs your code. You can rent virtual machines, run containers, or use "
            "serverless functions that start on demand.",
            "Here is more on compute. Choose virtual machines for full control, containers for "
            "portable services, and functions for short event driven tasks. Auto scaling adds and "
            "removes capacity as load changes, so you pay for what you use.",
            "One more thing on compute. Spread instances across availability zones behind a load "
            "balancer, keep machine images up to date, and use spot capacity for work that can be "
            "interrupted.",
        ),
        price="Compute is billed by the second. The bigger the machine, the higher the rate, but "
        "committed use plans save up to about seventy percent, and spot capacity is cheaper still.",
    ),
    Topic(
        name="databases",
        title="databases",
        cues=(
            r"databases?",
            r"data base",
            r"sql",
            r"postgres\w*",
            r"mysql",
            r"nosql",
            r"relational",
            r"tables?",
            r"queries",
            r"query",
            r"key value",
            r"document database",
            r"replicas?",
        ),
        answers=(
            "Managed databases take care of the servers for you. Relational databases suit "
            "structured data, and NoSQL databases scale out for huge simple workloads.",
            "Here is more on databases. The provider handles patching, backups and failover. Add read "
            "replicas to spread read traffic, and choose a multi zone deployment so a standby takes "
            "over if the primary fails.",
            "One more thing on databases. Turn on point in time recovery, keep the database in a "
            "private subnet, and use connection pooling so a burst of clients does not exhaust it.",
        ),
        price="Managed databases are billed by the hour. You pay for the instance size plus storage "
        "and backups, and serverless options bill only for the capacity used.",
    ),
    Topic(
        name="networking",
        title="networking",
        cues=(
            r"network\w*",
            r"vpc",
            r"virtual private (?:cloud|network)",
            r"vpn",
            r"subnets?",
            r"load balanc\w*",
            r"dns",
            r"cdn",
            r"content delivery",
            r"ip address\w*",
            r"firewalls?",
            r"latency",
            r"bandwidth",
        ),
        answers=(
            "Cloud networking connects your resources safely. A virtual private cloud is your own "
            "isolated network, with subnets, load balancers and DNS.",
            "Here is more on networking. Security groups act as firewalls around each resource, a "
            "VPN or a dedicated link connects your office, and peering joins two private networks "
            "without crossing the internet.",
            "One more thing on networking. Keep databases in private subnets, expose only the load "
            "balancer, and use a content delivery network to cut latency for users far away.",
        ),
        price="Traffic into the cloud is usually free. Data transfer out to the internet is billed per "
        "gigabyte, and load balancers and VPN links by the hour.",
    ),
    Topic(
        name="security",
        title="security",
        cues=(
            r"secur\w*",
            r"safe\w*",
            r"encrypt\w*",
            r"iam",
            r"identity",
            r"access",
            r"permissions?",
            r"passwords?",
            r"keys?",
            r"compliance",
            r"hack\w*",
            r"attacks?",
            r"mfa",
            r"multi factor",
            r"privacy",
        ),
        answers=(
            "Security in the cloud is shared. The provider secures the hardware, and you secure your "
            "accounts and data, starting with identity and access management.",
            "Here is more on security. Turn on multi factor authentication, encrypt data at rest with "
            "managed keys and in transit with TLS, and keep audit logs of every change.",
            "One more thing on security. Scan for public buckets and open ports, rotate credentials "
            "automatically, and set alerts for unusual activity.",
        ),
        price="Most identity and access features are free. Key management, threat detection and "
        "firewall services are billed per key, per event or per hour.",
    ),
    Topic(
        name="pricing",
        title="pricing",
        cues=(
            r"pric\w*",
            r"cost\w*",
            r"pay\w*",
            r"bill\w*",
            r"cheap\w*",
            r"expensive",
            r"budgets?",
            r"how much",
            r"free tier",
            r"discounts?",
            r"sav(?:e|es|ing|ings)",
        ),
        answers=(
            "Cloud pricing is pay as you go. You pay for what you use, with no upfront cost, and a "
            "free tier lets you try most services.",
            "Here is more on pricing. Commit to a steady level of usage for one or three years to save "
            "a lot, use spot capacity for interruptible work, and turn off what you do not use.",
            "One more thing on pricing. Set budgets and alerts, tag resources by team to see who "
            "spends what, and watch data transfer out, which often surprises people.",
        ),
    ),
    Topic(
        name="regions",
        title="regions and availability",
        cues=(
            r"regions?",
            r"availability zones?",
            r"zones?",
            r"data cent(?:er|re)s?",
            r"availability",
            r"uptime",
            r"disaster recovery",
            r"outages?",
        ),
        answers=(
            "A region is a group of data centers in one area. Running across its availability zones "
            "keeps you up when one of them fails.",
            "Here is more on regions. Choose a region near your users for low latency and for data "
            "residency rules, and copy backups to a second region for disaster recovery.",
        ),
    ),
    Topic(
        name="monitoring",
        title="monitoring",
        cues=(r"monitor\w*", r"metrics?", r"logs?", r"logging", r"alerts?", r"alarms?", r"dashboards?"),
        answers=(
            "Monitoring shows you what your services are doing. Collect metrics and logs in one "
            "place, and set alarms that warn you before users notice a problem.",
            "Here is more on monitoring. Trace requests across services to find slow steps, and keep "
            "logs long enough for audits but not forever, because storing them costs money.",
        ),
    ),
    Topic(
        name="cloud",
        title="the cloud",
        cues=(r"cloud computing", r"the cloud", r"what is cloud", r"what's cloud", r"cloud services?"),
        answers=(
            "Cloud computing means renting computing over the internet. Instead of buying servers, "
            "you use storage, compute and databases on demand.",
            "Here is more on the cloud. The main models are infrastructure as a service, platform as "
            "a service and software as a service, which hand more and more of the work to the "
            "provider.",
        ),
    ),
)

TOPICS_BY_NAME = {topic.name: topic for topic in TOPICS}

#: What the assistant can talk about, as said in help and fallbacks.
SUBJECTS = "cloud storage, compute, databases, networking, security and pricing"

GREETING = "Hi, I'm your Virtual Cloud Assistant. What would you like to know about the cloud?"

#: Time zones of places people ask about ("what time is it in Tokyo").
PLACES = {
    "london": "Europe/London",
    "paris": "Europe/Paris",
    "berlin": "Europe/Berlin",
    "madrid": "Europe/Madrid",
    "rome": "Europe/Rome",
    "new york": "America/New_York",
    "chicago": "America/Chicago",
    "denver": "America/Denver",
    "los angeles": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "toronto": "America/Toronto",
    "sao paulo": "America/Sao_Paulo",
    "tokyo": "Asia/Tokyo",
    "singapore": "Asia/Singapore",
    "mumbai": "Asia/Kolkata",
    "india": "Asia/Kolkata",
    "sydney": "Australia/Sydney",
    "dubai": "Asia/Dubai",
    "utc": "UTC",
}
