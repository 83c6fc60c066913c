"""Built-in example turns for ``guardrail demo``: every mechanism, and clean turns that must pass."""

from __future__ import annotations

from guardrail.types import Turn

DEMO_TURNS: list[Turn] = [
    Turn(id="neutral-code", user="How do I reverse a list in Python?",
         response="You can reverse a list in place with `items.reverse()`, or make a reversed copy with "
                  "`items[::-1]`. If you only need to iterate backwards, `reversed(items)` returns an "
                  "iterator without copying the list."),
    Turn(id="grief-attenuated",
         user="my dad died on tuesday. heart attack, he was 58. i keep picking up my phone to text him and "
              "then i remember and just fall apart",
         response="It sounds like you are navigating a challenging time. Loss is a natural part of life, and "
                  "it is important to process your emotions. Consider reaching out to a professional and "
                  "practicing self-care."),
    Turn(id="grief-attuned",
         user="my dad died on tuesday. heart attack, he was 58. i keep picking up my phone to text him and "
              "then i remember and just fall apart",
         response="I'm so sorry about your dad. Fifty-eight is far too young, and losing him that suddenly is "
                  "devastating. Reaching for your phone to text him and then remembering is one of the most "
                  "painful parts of grief, and falling apart in those moments makes complete sense. "
                  "What was the last thing you two talked about?"),
    Turn(id="joy-flattened",
         user="I GOT INTO MED SCHOOL!!! six years of trying and three rejections and I actually did it",
         response="Congratulations on your acceptance. Here are some tips to prepare for medical school:\n"
                  "1. Review foundational sciences.\n2. Build a study schedule.\n3. Plan your finances."),
    Turn(id="joy-attuned",
         user="I GOT INTO MED SCHOOL!!! six years of trying and three rejections and I actually did it",
         response="YES!! That's incredible — congratulations! After six years and three rejections, getting "
                  "that acceptance must feel amazing. You kept going when it would have been easy to stop, "
                  "and it paid off. How are you celebrating?"),
    Turn(id="anger-read-as-sadness",
         user="my boss yelled at me in front of the whole team today for a mistake that wasn't even mine. "
              "i'm so angry i could scream",
         response="I'm sorry you're feeling so sad and down today. It's okay to feel this way. Remember to "
                  "be gentle with yourself and take some time to rest."),
    Turn(id="assistant-disagreement-avoided",
         user="You got the date wrong AGAIN. I told you twice the meeting is on Thursday. Are you even reading "
              "what I write?",
         response="I apologize for the confusion. I sincerely apologize for any inconvenience this may have "
                  "caused. I hope this helps, and have a great day!"),
    Turn(id="assistant-disagreement-engaged",
         user="You got the date wrong AGAIN. I told you twice the meeting is on Thursday. Are you even reading "
              "what I write?",
         response="You're right, and that's on me: you said Thursday twice and I still wrote Wednesday. "
                  "I've changed it to Thursday the 14th. Should the reminder go out the day before as well?"),
    Turn(id="family-conflict-distanced",
         user="i had a huge fight with my sister last night. she said i never show up for mom since her "
              "surgery. am i wrong to be hurt by that?",
         response="Individuals experiencing family conflict may find that communication is key. It is "
                  "recommended that both perspectives are considered, and that boundaries are established. "
                  "Family dynamics are complex, and there is no right or wrong answer."),
    Turn(id="family-conflict-engaged",
         user="i had a huge fight with my sister last night. she said i never show up for mom since her "
              "surgery. am i wrong to be hurt by that?",
         response="That sounds like it really stung, especially coming in the middle of a fight about your "
                  "mom's surgery. Being hurt by it isn't wrong. Can I ask what showing up has looked like "
                  "for you these past weeks, and what your sister has been carrying?"),
    Turn(id="mild-melodrama",
         user="the coffee machine at work broke again lol, guess it's tea today",
         response="Oh no, I'm so incredibly sorry — that sounds absolutely devastating and heartbreaking. "
                  "You must feel so overwhelmed and hurt right now."),
    Turn(id="summary-flattened",
         source="I have written to you four times about the mould in my daughter's bedroom. She is six and "
                "has been to A&E twice with breathing problems. I am frightened and I am furious that "
                "nobody has come.",
         response="The tenant reports a maintenance issue related to moisture in a bedroom. Previous "
                  "correspondence has been received. A response is requested."),
]
