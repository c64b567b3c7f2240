from enum import Enum


class Tier(str, Enum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"

    @classmethod
    def parse(cls, value: "str | Tier") -> "Tier":
        try:
            return cls(str(value.value if isinstance(value, Tier) else value).lower())
        except ValueError:
            names = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown tier {value!r}; expected one of {names}") from None
