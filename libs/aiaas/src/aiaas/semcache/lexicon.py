"""Word lists for the semantic cache's verifier: what makes two similar questions different questions.

Written by hand for support-style questions (accounts, billing, orders, devices) plus general English; nothing here
is learned from an evaluation set. Every entry is lower case; multi-word phrases are joined with "_" by
`verifier.tokens` before lookup (e.g. "turn on" -> "turn_on").
"""

from __future__ import annotations

# Multi-word phrases read as one token (longest first when they overlap).
PHRASES: tuple[str, ...] = (
    "two factor authentication",
    "two step verification",
    "two factor",
    "two step",
    "phone number",
    "email address",
    "credit card",
    "debit card",
    "gift card",
    "bank account",
    "bank transfer",
    "apple pay",
    "google pay",
    "dark mode",
    "light mode",
    "user name",
    "security question",
    "billing address",
    "shipping address",
    "sign in",
    "sign up",
    "sign out",
    "log in",
    "log on",
    "log out",
    "log off",
    "turn on",
    "turn off",
    "switch on",
    "switch off",
    "opt in",
    "opt out",
    "set up",
    "how much",
    "how many",
    "how long",
    "how often",
    "how far",
    "how old",
    "at least",
    "at most",
    "more than",
    "less than",
    "fewer than",
)

# Words and phrases that mean the same thing here, mapped to one canonical form.
SYNONYMS: dict[str, str] = {
    "activate": "enable",
    "turn_on": "enable",
    "switch_on": "enable",
    "deactivate": "disable",
    "turn_off": "disable",
    "switch_off": "disable",
    "login": "signin",
    "log_in": "signin",
    "log_on": "signin",
    "logon": "signin",
    "sign_in": "signin",
    "logout": "signout",
    "log_out": "signout",
    "log_off": "signout",
    "sign_out": "signout",
    "signup": "register",
    "sign_up": "register",
    "registration": "register",
    "enroll": "register",
    "two_factor_authentication": "2fa",
    "two_step_verification": "2fa",
    "two_factor": "2fa",
    "two_step": "2fa",
    "mfa": "2fa",
    "user_name": "username",
    "login_name": "username",
    "email_address": "email",
    "e-mail": "email",
    "mail": "email",
    "passcode": "pin",
    "pwd": "password",
    "passphrase": "password",
    "cellphone": "phone_number",
    "mobile_number": "phone_number",
    "purchase": "buy",
    "bought": "buy",
    "acquire": "buy",
    "refunded": "refund",
    "reimburse": "refund",
    "remove": "delete",
    "erase": "delete",
    "wipe": "delete",
    "terminate": "cancel",
    "cancellation": "cancel",
    "modify": "change",
    "edit": "change",
    "update": "change",
    "alter": "change",
    "restore": "recover",
    "forgot": "recover",
    "forgotten": "recover",
    "lost": "recover",
    "reset": "recover",
    "shipment": "delivery",
    "shipping": "delivery",
    "ship": "delivery",
    "deliver": "delivery",
    "parcel": "package",
    "annual": "yearly",
    "annually": "yearly",
    "year": "yearly",
    "month": "monthly",
    "week": "weekly",
    "day": "daily",
    "invoice": "bill",
    "billing": "bill",
    "receipt": "bill",
    "fee": "price",
    "cost": "price",
    "charge": "price",
    "charged": "price",
    "pricing": "price",
    "pay": "payment",
    "paid": "payment",
    "costs": "price",
    "cellular": "mobile",
    "smartphone": "phone",
    "app": "application",
    "apps": "application",
    "pc": "computer",
    "laptop": "computer",
    "i": "self",
    "me": "self",
    "my": "self",
    "mine": "self",
    "myself": "self",
    "he": "third_person",
    "him": "third_person",
    "his": "third_person",
    "she": "third_person",
    "her": "third_person",
    "hers": "third_person",
    "they": "third_person",
    "them": "third_person",
    "their": "third_person",
    "children": "child",
    "kids": "kid",
    "cheapest": "cheap",
    "cheaper": "cheap",
    "inexpensive": "cheap",
    "quickest": "fast",
    "fastest": "fast",
    "quickly": "fast",
    "quick": "fast",
    "begin": "start",
    "commence": "start",
    "halt": "stop",
    "untrue": "false",
    "incorrect": "wrong",
    "utilize": "use",
    "utilise": "use",
    "employ": "use",
    "automobile": "car",
    "films": "movie",
    "film": "movie",
    "movies": "movie",
    "respond": "reply",
    "response": "reply",
    "generate": "create",
    "sample": "example",
    "repo": "repository",
    "repos": "repository",
    "retrieve": "fetch",
    "superior": "better",
}

# Pairs of canonical forms with opposite meaning (either order).
ANTONYMS: tuple[tuple[str, str], ...] = (
    ("enable", "disable"),
    ("on", "off"),
    ("in", "out"),
    ("up", "down"),
    ("signin", "signout"),
    ("opt_in", "opt_out"),
    ("add", "delete"),
    ("create", "delete"),
    ("install", "uninstall"),
    ("upgrade", "downgrade"),
    ("increase", "decrease"),
    ("raise", "lower"),
    ("buy", "sell"),
    ("send", "receive"),
    ("sent", "received"),
    ("import", "export"),
    ("upload", "download"),
    ("lock", "unlock"),
    ("block", "unblock"),
    ("block", "allow"),
    ("subscribe", "unsubscribe"),
    ("follow", "unfollow"),
    ("mute", "unmute"),
    ("pin", "unpin"),
    ("hide", "show"),
    ("hide", "unhide"),
    ("archive", "unarchive"),
    ("start", "stop"),
    ("start", "end"),
    ("open", "close"),
    ("join", "leave"),
    ("accept", "decline"),
    ("accept", "reject"),
    ("approve", "reject"),
    ("approve", "deny"),
    ("allow", "deny"),
    ("allow", "prevent"),
    ("include", "exclude"),
    ("encrypt", "decrypt"),
    ("connect", "disconnect"),
    ("link", "unlink"),
    ("public", "private"),
    ("credit", "debit"),
    ("refund", "price"),
    ("before", "after"),
    ("first", "last"),
    ("more", "less"),
    ("more", "fewer"),
    ("more_than", "less_than"),
    ("more_than", "fewer_than"),
    ("at_least", "at_most"),
    ("max", "min"),
    ("maximum", "minimum"),
    ("high", "low"),
    ("higher", "lower"),
    ("highest", "lowest"),
    ("long", "short"),
    ("longer", "shorter"),
    ("big", "small"),
    ("bigger", "smaller"),
    ("large", "small"),
    ("larger", "smaller"),
    ("fast", "slow"),
    ("cheap", "expensive"),
    ("good", "bad"),
    ("better", "worse"),
    ("best", "worst"),
    ("right", "wrong"),
    ("true", "false"),
    ("pros", "cons"),
    ("advantage", "disadvantage"),
    ("advantages", "disadvantages"),
    ("benefit", "risk"),
    ("success", "failure"),
    ("win", "lose"),
    ("gain", "lose"),
    ("love", "hate"),
    ("like", "dislike"),
    ("hot", "cold"),
    ("old", "new"),
    ("old", "young"),
    ("early", "late"),
    ("past", "future"),
    ("yesterday", "tomorrow"),
    ("inbound", "outbound"),
    ("incoming", "outgoing"),
    ("input", "output"),
    ("push", "pull"),
    ("merge", "split"),
    ("encode", "decode"),
    ("compress", "decompress"),
    ("zip", "unzip"),
    ("pause", "resume"),
    ("freeze", "unfreeze"),
    ("suspend", "reactivate"),
    ("verify", "unverify"),
    ("dark_mode", "light_mode"),
    ("dark", "light"),
    ("online", "offline"),
    ("male", "female"),
    ("man", "woman"),
    ("men", "women"),
    ("boy", "girl"),
    ("husband", "wife"),
    ("north", "south"),
    ("east", "west"),
    ("left", "right"),
    ("top", "bottom"),
    ("front", "back"),
    ("plus", "minus"),
    ("positive", "negative"),
    ("rich", "poor"),
    ("legal", "illegal"),
    ("possible", "impossible"),
    ("safe", "unsafe"),
    ("valid", "invalid"),
    ("visible", "invisible"),
    ("available", "unavailable"),
    ("employer", "employee"),
    ("buyer", "seller"),
    ("sender", "recipient"),
    ("parent", "child"),
    ("teacher", "student"),
    ("client", "server"),
    ("frontend", "backend"),
    ("asc", "desc"),
    ("ascending", "descending"),
    ("horizontal", "vertical"),
    ("odd", "even"),
    ("inner", "outer"),
    ("internal", "external"),
)

# Mutually exclusive members of one kind: two questions that differ by swapping one member for another of the same
# kind ask different things (reset the password vs the username; cancel an order vs a subscription).
SLOT_CLASSES: dict[str, tuple[str, ...]] = {
    "credential": tuple("password username email pin phone_number security_question 2fa recovery".split()),
    "commerce": tuple(
        (
            "order subscription plan membership bill payment refund trial account cart coupon voucher discount "
            "warranty return exchange reservation booking ticket delivery package item product credit_card "
            "debit_card gift_card card paypal apple_pay google_pay bank_account bank_transfer crypto cash check"
        ).split()
    ),
    "platform": tuple(
        (
            "iphone ipad android windows mac macos linux ios web desktop mobile browser chrome firefox safari "
            "tablet tv watch kindle xbox playstation"
        ).split()
    ),
    "period": tuple("daily weekly monthly yearly quarterly hourly lifetime".split()),
    "channel": tuple("sms phone letter fax whatsapp email telegram slack".split()),
    # The main action asked about: two short questions about one object with different actions ask different things.
    "action": tuple(
        (
            "enable disable cancel pause resume renew delete add create install uninstall upgrade downgrade lock "
            "unlock block unblock subscribe unsubscribe signin signout register import export upload download "
            "track verify recover change transfer refund return exchange share print sell store encrypt rate "
            "review report merge split archive restore translate"
        ).split()
    ),
    "weekday": tuple("monday tuesday wednesday thursday friday saturday sunday weekday weekend".split()),
    "month": tuple("january february march april may june july august september october november december".split()),
    "person": tuple(
        (
            "self third_person child kid son daughter spouse partner friend team admin employee colleague guest "
            "customer family parent mother father"
        ).split()
    ),
    "document": tuple("passport license id visa certificate statement contract tax w2 1099".split()),
    "file": tuple("pdf csv excel xlsx json xml word docx image photo video audio zip".split()),
    "account_kind": tuple("personal business student family enterprise free pro premium basic".split()),
    "currency": tuple("dollar dollars usd euro euros eur pound pounds gbp yen rupee rupees".split()),
    "language": tuple(
        (
            "python java javascript c c++ c# go rust ruby php swift kotlin sql english spanish french german "
            "chinese japanese hindi arabic russian"
        ).split()
    ),
    "question": tuple("how_much how_many how_long how_often how_far how_old why when where who".split()),
    "time": tuple("today tomorrow yesterday tonight weekend morning evening night now later".split()),
}

# Words that change a statement into its opposite; a mismatch in their count's parity flips the meaning.
NEGATIONS: frozenset[str] = frozenset(
    {
        "not",
        "no",
        "never",
        "none",
        "nothing",
        "nobody",
        "nowhere",
        "neither",
        "nor",
        "without",
        "cannot",
        "cant",
        "unable",
    }
)

# Words that carry no key meaning in a support question: paraphrases add, drop and swap these freely.
STOPWORDS: frozenset[str] = frozenset(
    """a an the and or but if then so of to for from with by at as into onto about over under via per than too very
    is am are was were be been being do does did doing done have has had having will would shall should can could may
    might must it its it's this that these those there here what which how i'm i've i'd
    you your yours yourself someone somebody anyone anybody one ones something anything everything thing things
    please help helping need needs needed want wants wanted wanting trying try tried way ways possible able
    get got gets getting make makes made go going know tell find let lets like just really also actually still
    again already even ever any some all each every much many lot lots well good best better new right proper
    correct easy easiest simple simply exactly specific steps step instructions process procedure guide anyway
    kindly hi hello hey thanks thank regards sure okay ok currently now possibly maybe perhaps basically option
    options method methods go there's where's what's how's who's whats hows""".split()
)

# Words that frame a question without narrowing what it asks ("Can you explain what X is?", "What does the term X
# mean?", "What are the steps to..."): one side having them is no qualifier. Canonical forms (after stemming:
# "does" -> "doe"); "self" is the canonical first person ("me", "my", "I").
FRAMING: frozenset[str] = frozenset(
    """self doe explain explanation mean meaning term refer significance definition define describe description
    detail details overview introduce introduction recommend recommended suggest suggestion common commonly typical
    usual usually type kind sort sorts official officially brief briefly summary example examples
    give show list provide share tell know idea ideas information info current in between within""".split()
)
